"""The ChArUco calibration target: its spec, a printable image, and detection in a camera image.

A ChArUco board is a chessboard whose white squares hold ArUco markers: every detected inner
corner is identified by id, so a partly visible or occluded board still gives usable corners
(the whole chessboard must be visible for cv2.findChessboardCorners). OpenCV 4.7+/5.x API:
`cv2.aruco.CharucoBoard`, `cv2.aruco.CharucoDetector.detectBoard`, `CharucoBoard.matchImagePoints`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

DEFAULT_SQUARES = (7, 5)  # squares along x (columns) and y (rows): 6 x 4 = 24 inner corners
DEFAULT_SQUARE_M = 0.04  # square side [m] as printed (measure it on the print!)
DEFAULT_MARKER_M = 0.03  # ArUco marker side [m], smaller than the square
DEFAULT_DICTIONARY = "DICT_5X5_100"  # 5x5-bit markers: robust at a distance, 100 ids >> 17 needed
MIN_CORNERS = 6  # fewest ChArUco corners (not all on one line) that constrain a board pose / a view
PRINT_PX_PER_SQUARE = 200  # board PNG resolution: 200 px per square = 127 dpi for 40 mm squares
PRINT_MARGIN_SQUARES = 0.5  # white quiet zone around the board, in squares (the detector needs it)


class BoardError(ValueError):
    """A bad board spec or an image where the board cannot be used; names the field and the fix."""


@dataclass(frozen=True)
class BoardSpec:
    """A ChArUco board: `squares_x` x `squares_y` squares of `square_m` metres, ArUco markers of
    `marker_m` metres from the OpenCV predefined `dictionary`."""

    squares_x: int = DEFAULT_SQUARES[0]
    squares_y: int = DEFAULT_SQUARES[1]
    square_m: float = DEFAULT_SQUARE_M
    marker_m: float = DEFAULT_MARKER_M
    dictionary: str = DEFAULT_DICTIONARY

    def __post_init__(self) -> None:
        import cv2

        if not (isinstance(self.squares_x, int) and isinstance(self.squares_y, int) and self.squares_x >= 3 and self.squares_y >= 3):
            raise BoardError(f"board squares: need at least 3x3 squares, got {self.squares_x}x{self.squares_y} (--squares COLSxROWS)")
        if not (0 < self.marker_m < self.square_m):
            raise BoardError(f"board sizes: need 0 < marker ({self.marker_m} m) < square ({self.square_m} m) (--marker, --square)")
        if not self.dictionary.startswith("DICT_") or not hasattr(cv2.aruco, self.dictionary):
            known = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
            raise BoardError(f"board dictionary {self.dictionary!r} is not an OpenCV ArUco dictionary; one of {known}")
        n_markers = (self.squares_x * self.squares_y) // 2
        size = int(self.dictionary.rsplit("_", 1)[-1]) if self.dictionary.rsplit("_", 1)[-1].isdigit() else None
        if size is not None and size < n_markers:
            raise BoardError(f"board dictionary {self.dictionary} has {size} markers; a {self.squares_x}x{self.squares_y} board needs {n_markers}")

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "board") -> "BoardSpec":
        d = dict(d or {})
        try:
            return cls(int(d.get("squares_x", DEFAULT_SQUARES[0])), int(d.get("squares_y", DEFAULT_SQUARES[1])),
                       float(d.get("square_m", DEFAULT_SQUARE_M)), float(d.get("marker_m", DEFAULT_MARKER_M)),
                       str(d.get("dictionary", DEFAULT_DICTIONARY)))
        except (TypeError, ValueError) as e:
            raise BoardError(f"{source}: board needs squares_x, squares_y (int), square_m, marker_m (m), dictionary: {e}") from None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def n_corners(self) -> int:
        return (self.squares_x - 1) * (self.squares_y - 1)

    def board(self):
        return _board(self)

    def describe(self) -> str:
        return (f"ChArUco {self.squares_x}x{self.squares_y} squares of {self.square_m * 1000:g} mm, markers "
                f"{self.marker_m * 1000:g} mm, {self.dictionary}")


@lru_cache(maxsize=8)
def _board(spec: BoardSpec):
    import cv2

    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, spec.dictionary))
    return cv2.aruco.CharucoBoard((spec.squares_x, spec.squares_y), spec.square_m, spec.marker_m, d)


@lru_cache(maxsize=8)
def _detector(spec: BoardSpec):
    import cv2

    return cv2.aruco.CharucoDetector(_board(spec))


def render_board(spec: BoardSpec, px_per_square: int = PRINT_PX_PER_SQUARE, margin_squares: float = PRINT_MARGIN_SQUARES) -> np.ndarray:
    """The board as a grayscale uint8 image (white margin included), for printing or synthetic views."""
    margin = int(round(margin_squares * px_per_square))
    size = (spec.squares_x * px_per_square + 2 * margin, spec.squares_y * px_per_square + 2 * margin)
    return spec.board().generateImage(size, marginSize=margin, borderBits=1)


@dataclass(frozen=True)
class Detection:
    """ChArUco corners found in one image: ids, pixel positions (N x 2) and board points (N x 3, m)."""

    ids: np.ndarray
    image_points: np.ndarray
    object_points: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def to_gray(image: np.ndarray) -> np.ndarray:
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise BoardError(f"board detection: expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    raise BoardError(f"board detection: expected an H x W gray or H x W x 3 RGB image, got shape {image.shape}")


def detect(image: np.ndarray, spec: BoardSpec) -> Detection | None:
    """The board's ChArUco corners in `image`, or None when fewer than MIN_CORNERS usable
    (non-collinear) corners are visible."""
    corners, ids, _mc, _mi = _detector(spec).detectBoard(to_gray(image))
    if ids is None or len(ids) < MIN_CORNERS:
        return None
    board = spec.board()
    if board.checkCharucoCornersCollinear(ids):
        return None
    obj, img = board.matchImagePoints(corners, ids)
    return Detection(ids.ravel().astype(int), img.reshape(-1, 2).astype(np.float64), obj.reshape(-1, 3).astype(np.float64))


def board_pose(det: Detection, K: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, float]:
    """Pose of the board in the camera frame (4x4, camera <- board) by solvePnP (IPPE for a
    plane, then Levenberg-Marquardt refinement), and its RMS reprojection error [px]."""
    import cv2

    obj, img = det.object_points.astype(np.float64), det.image_points.astype(np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, K, D, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        raise BoardError("board pose: solvePnP failed (corners degenerate?); retake this view")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, D, rvec, tvec)
    proj = cv2.projectPoints(obj, rvec, tvec, K, D)[0].reshape(-1, 2)
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(rvec)[0]
    T[:3, 3] = tvec.ravel()
    return T, float(np.sqrt(np.mean(np.sum((proj - img) ** 2, axis=1))))


def parse_squares(text: str) -> tuple[int, int]:
    """'7x5' -> (7, 5)."""
    try:
        a, b = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise BoardError(f"--squares must look like 7x5 (columns x rows of squares), got {text!r}") from None
    return a, b
