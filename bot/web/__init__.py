"""The assistant's HTTP face (aiohttp): health and metrics for operators."""
