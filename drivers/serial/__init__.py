"""Serial transport: pyserial on the asyncio loop, port discovery and hot-plug, and the link."""
