"""The bot: knowledge base, retrieval, answer policy and LLM backends."""
