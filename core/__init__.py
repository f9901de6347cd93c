"""The gateway itself: one format inside (OpenAI chat completions), no provider or handler imports."""
