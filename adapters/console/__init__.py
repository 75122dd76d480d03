"""The console adapter: a small simulated community in the terminal. The default of `make run`."""

from .adapter import ConsoleAdapter, ConsolePlatform, World

__all__ = ["ConsoleAdapter", "ConsolePlatform", "World"]
