"""Client formats other than Anthropic's own, translated to and from the Messages API.

- ``exchange``: what every translated route shares (one request through the account loop,
  one answer translated back).
- ``openai_routes``: ``/v1/chat/completions``, ``/v1/responses`` and ``/v1/models``.
- ``openai_chat``: the pure translation of Chat Completions, request and answer and stream;
  ``openai_responses`` (requests), ``openai_responses_output`` (output items) and
  ``openai_responses_stream`` (streams) of Responses; ``openai_common`` what both share
  (``Rules``, reasoning efforts as thinking); ``openai_tools`` the kinds of tools.
- ``sealing``: Claude's thinking sealed for clients to give back.
- ``cloud``: Bedrock and Vertex routes; ``eventstream``: AWS event-stream framing.
- ``aliases``: model names clients send, mapped to Claude models; ``families``: what a Claude
  model family allows (its maximum output, its form of thinking).

May import: proxy and everything below it.
"""
