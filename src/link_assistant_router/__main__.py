from link_assistant_router.cli.main import main

main()
