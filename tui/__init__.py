"""The Textual terminal UI for village doctors. Talks to the daemon only through the local API."""
