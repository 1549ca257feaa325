"""Text generation: tag phrases, caption templates (and later LLMs)."""
