"""Client formats other than Anthropic's own, translated to and from the Messages API.

- ``exchange``: what every translated route shares (one request through the account loop,
  one answer translated back).
- ``openai_routes``: ``/v1/chat/completions``, ``/v1/responses`` and ``/v1/models``.
- ``openai_chat``, ``openai_responses``: the pure translations, request and answer and stream.
- ``cloud``: Bedrock and Vertex routes; ``eventstream``: AWS event-stream framing.
- ``aliases``: model names clients send, mapped to Claude models.

May import: proxy and everything below it.
"""
