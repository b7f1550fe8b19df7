"""What a person looks like: the colours of their clothes, and how alike two people's are."""
import numpy as np

# appearance: HSV histogram bins (hue, saturation, value) and the pixels that count (torso, thighs)
HISTOGRAM_BINS = (8, 4, 4)


def appearance_distance(a, b):
    """Bhattacharyya distance of two L1-normalised histograms (0 = same, 1 = disjoint); None if one is missing."""
    if a is None or b is None:
        return None
    return float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(a * b)))))


def appearance_descriptor(image_hsv, polygons):
    """The colours of a person: an L1-normalised HSV histogram (:data:`HISTOGRAM_BINS`) of the pixels inside
    ``polygons`` (each ``(n, 2)`` pixels: the torso, the thighs), or None when they cover no pixel.
    ``image_hsv``: the frame in OpenCV's HSV (``cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)``)."""
    import cv2

    height, width = image_hsv.shape[:2]
    points = np.concatenate(polygons)
    x0, y0 = np.clip(np.floor(points.min(axis=0)).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.ceil(points.max(axis=0)).astype(int) + 1, 0, [width, height])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for polygon in polygons:
        hull = cv2.convexHull(np.round(polygon - [x0, y0]).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255)
    if not mask.any():
        return None
    hist = cv2.calcHist([np.ascontiguousarray(image_hsv[y0:y1, x0:x1])], [0, 1, 2], mask, list(HISTOGRAM_BINS),
                        [0, 180, 0, 256, 0, 256]).ravel().astype(np.float64)
    total = hist.sum()
    return hist / total if total > 0 else None


