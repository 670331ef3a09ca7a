"""Link.Assistant.Router: a self-hosted gateway for the Anthropic API."""

__version__ = "0.1.0"
