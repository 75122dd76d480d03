from .adapter import MatrixAdapter

__all__ = ["MatrixAdapter"]
