"""Matrix adapter: `MatrixAdapter(app).run()`. `MatrixAdapter` is imported on first use, so that reading
the plugin declaration (`plugin.py`) does not import matrix-nio."""

__all__ = ["MatrixAdapter"]


def __getattr__(name):
    if name == "MatrixAdapter":
        from .adapter import MatrixAdapter

        return MatrixAdapter
    raise AttributeError(name)
