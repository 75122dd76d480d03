"""Small videos generated with PyAV for the tests (no committed binaries): scenes of generated pictures
(test_hashing.generate) that drift slowly sideways, two seconds per scene, like a recorded call."""

from __future__ import annotations

import io

import av
import numpy as np

from tests.media.test_hashing import generate


def make_video(seed: int, *, seconds: float = 6.0, start: float = 0.0, fps: int = 10, codec: str = "libx264",
               container: str = "mp4", size: tuple[int, int] = (320, 240), bit_rate: int | None = None,
               frames: int | None = None) -> bytes:
    """`seconds` of video from time `start` of the scene sequence `seed` (a trimmed copy is the same seed
    with a later start). `frames` overrides the frame count (for the frame-count limit)."""
    width, height = size
    scene_count = int((start + seconds) // 2) + 2
    scenes = [np.asarray(generate(seed * 1000 + k, width + 24, height, noise=0)) for k in range(scene_count)]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if bit_rate:
            stream.bit_rate = bit_rate
        for i in range(frames if frames is not None else int(seconds * fps)):
            t = start + i / fps
            shift = int((t % 2) * 6)  # slow drift within a scene
            arr = np.ascontiguousarray(scenes[min(int(t // 2), scene_count - 1)][:, shift:shift + width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def black_video(seconds: float = 3.0, fps: int = 10) -> bytes:
    """No detail at all: every frame's PDQ quality is far below 50 (exact hashes only)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        frame = np.zeros((120, 160, 3), np.uint8)
        for _ in range(int(seconds * fps)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()
