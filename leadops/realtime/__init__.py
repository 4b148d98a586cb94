"""The real-time intake service: store each posted lead before answering, then route and notify it at once."""
