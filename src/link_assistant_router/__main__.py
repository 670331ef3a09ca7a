from link_assistant_router.cli import main

main()
