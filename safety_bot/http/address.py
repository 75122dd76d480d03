"""Reading `http.listen`: a port (loopback) or an address and port."""

LOOPBACK = "127.0.0.1"


def parse_listen(value: str) -> tuple[str, int]:
    """"8080" -> ("127.0.0.1", 8080); "0.0.0.0:8080" or "[::1]:8080" -> that address. Raises ValueError."""
    text = str(value).strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host = LOOPBACK
    host = host.strip("[]")
    if (sep and not host) or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("write a port (8080, on loopback) or an address and port (127.0.0.1:8080)")
    return host, int(port)
