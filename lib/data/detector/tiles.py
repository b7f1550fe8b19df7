"""Small people: the detector run on overlapping square tiles of the frame (``--tiles N``).

BlazePose's person detector sees the whole frame scaled to 224 x 224. In a 1280 x 720 frame a person shorter than
about 250 px (8 m away with a 65-degree lens) is then too small for it, alone or beside a larger person: on the
rendered scene ``cross`` (docs/demo.md) the far walker, 200 px tall, was found in none of the frames the near one
was in. Tiles of the frame's short side, ``n`` of them spread along its long side, show everyone 1.8 times as large
(for 16:9 and three tiles: 224 / 720 instead of 224 / 1280); each tile is its own stream (video mode), and a
detection that touches a tile's inner edge is left to the tile that holds it whole (with three tiles of a 16:9
frame the tiles overlap by 440 px, wider than a person of the frame's height). Costs about ``n`` times the time
of one frame on one core; the tiles run side by side on the machine's cores (:data:`TILE_WORKERS`; MediaPipe's
graphs release the GIL while they run), so on two cores three tiles cost about twice a frame.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

EDGE_MARGIN = 0.02  # of the tile's side: a detection nearer to an inner edge than this is cut by it
MIN_VISIBILITY = 0.5
# tiles detected at once: each session's graph runs on one core (XNNPACK, one thread), so one tile per core
TILE_WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def tile_boxes(width, height, n):
    """``n`` square tiles ``(x, y, w, h)`` of the short side, evenly spread along the long side (one tile: the
    frame)."""
    side = min(width, height)
    if n <= 1 or width == height:
        return [(0, 0, width, height)]
    starts = np.linspace(0, max(width, height) - side, n).round().astype(int)
    return [(int(s), 0, side, height) if width > height else (0, int(s), width, side) for s in starts]


def cut_by_inner_edge(landmarks, tile, width, height):
    """Whether a person's landmarks ``(33, 3)`` (frame pixels) reach an edge of ``tile`` that is not the frame's."""
    x, y, w, h = tile
    visible = landmarks[:, 2] >= MIN_VISIBILITY
    points = landmarks[visible, :2] if visible.sum() >= 2 else landmarks[:, :2]
    mx, my = EDGE_MARGIN * w, EDGE_MARGIN * h
    return bool((x > 0 and points[:, 0].min() < x + mx) or (x + w < width and points[:, 0].max() > x + w - mx) or
                (y > 0 and points[:, 1].min() < y + my) or (y + h < height and points[:, 1].max() > y + h - my))


class TiledSession:
    """A detector session per tile (``make_session()`` each, made at the first frame, when its size is known), with
    :meth:`detect_people` as one session's over the whole frame."""

    def __init__(self, make_session, n_tiles, name="detector", workers=TILE_WORKERS):
        self.make_session, self.n_tiles = make_session, int(n_tiles)
        self.name = f"{name} on {self.n_tiles} tiles"
        self.tiles, self.sessions = None, []
        self.workers = max(1, min(int(workers), self.n_tiles))
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="tile") if self.workers > 1 else None

    def _detect_tile(self, k, frame_rgb, timestamp_ms):
        x, y, w, h = self.tiles[k]
        found = self.sessions[k].detect_people(np.ascontiguousarray(frame_rgb[y:y + h, x:x + w]), timestamp_ms)
        return [landmarks + np.array([x, y, 0.0]) for landmarks in found]

    def detect_people(self, frame_rgb, timestamp_ms=None):
        height, width = frame_rgb.shape[:2]
        if self.tiles is None:
            self.tiles = tile_boxes(width, height, self.n_tiles)
            self.sessions = [self.make_session() for _ in self.tiles]
        tiles = range(len(self.tiles))
        if self._pool is None:
            found = [self._detect_tile(k, frame_rgb, timestamp_ms) for k in tiles]
        else:  # each tile's session is used by one thread at a time: frames come one after another
            found = list(self._pool.map(lambda k: self._detect_tile(k, frame_rgb, timestamp_ms), tiles))
        people = [landmarks for tile, tile_people in zip(self.tiles, found) for landmarks in tile_people
                  if not cut_by_inner_edge(landmarks, tile, width, height)]
        return sorted(people, key=lambda p: -np.prod(np.ptp(p[:, :2], axis=0)))

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()
        for session in self.sessions:
            session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
