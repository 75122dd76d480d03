"""The optional HTTP listener (`http.listen`): a small aiohttp server other modules add routes to
(`listener.HttpListener`); `address.parse_listen` reads the config value without importing aiohttp."""
