"""BVH reader and forward kinematics for the retargeting stage.

A BVH file has two sections::

    HIERARCHY
    ROOT Hips
    {
        OFFSET 0 0 0
        CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
        JOINT LeftUpLeg
        {
            OFFSET 1.7 -1.6 0.9
            CHANNELS 3 Zrotation Yrotation Xrotation
            End Site
            {
                OFFSET 0 -6.4 0
            }
        }
    }
    MOTION
    Frames: 2
    Frame Time: .0083333
    <one line of C numbers per frame>

Conventions (those of the BVH format, kept as they are in the file):

* Lengths are in **file units** (see :func:`detect_unit_scale` for metres), angles in degrees.
* A joint's local rotation is the product of its rotation channels **in the listed order**:
  ``CHANNELS 3 Zrotation Yrotation Xrotation`` means ``R = Rz(z) · Ry(y) · Rx(x)``.
* A joint's local translation is its ``OFFSET``; a position channel (on any joint, not only
  the root) replaces the matching component of the offset for that frame.
* ``global = parent_global · [R | t]``, so a point ``v`` in joint ``j``'s frame is at
  ``p_j + R_j v`` in the file's world frame.
* BVH files are Y-up with the character facing +Z; :func:`to_z_up` converts to humimic's world.

Quaternions are ``wxyz`` (:mod:`humimic.rotations`). Every malformed input raises
:class:`~humimic.errors.RetargetError` whose message names the file and the line (HIERARCHY)
or the frame (MOTION).
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from humimic.errors import RetargetError, unknown_name
from humimic.rotations import (
    quat_change_basis,
    quat_from_axis_angle,
    quat_mul,
    quat_rotate,
)

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Canonical channel names; the file may spell them in any letter case.
CHANNEL_NAMES: tuple[str, ...] = (
    "Xposition",
    "Yposition",
    "Zposition",
    "Xrotation",
    "Yrotation",
    "Zrotation",
)
_CHANNEL_BY_LOWER = {name.lower(): name for name in CHANNEL_NAMES}
_AXIS = {"X": 0, "Y": 1, "Z": 2}

#: Metres per file unit of the units :func:`detect_unit_scale` chooses from.
UNIT_SCALES_M: dict[str, float] = {
    "metre": 1.0,
    "centimetre": 0.01,
    "millimetre": 0.001,
    "inch": 0.0254,
    "cmu": 0.0254 / 0.45,  # CMU ASF ":units length 0.45": 1 unit = 1/0.45 inch
}
#: Rest-pose height (m) a human skeleton is expected to have; the unit whose height is closest
#: to it (ratio in log space) wins.
NOMINAL_HEIGHT_M = 1.7
#: Heights outside this range (m) get a warning; outside ``_HEIGHT_FAIL_M`` an error.
PLAUSIBLE_HEIGHT_M = (1.2, 2.2)
_HEIGHT_FAIL_M = (0.5, 3.0)

#: Rotation taking Y-up BVH vectors (character faces +Z, its left is +X) to humimic's Z-up
#: world (X forward, Y left, Z up): ``v_z_up = Z_UP_FROM_Y_UP @ v_y_up``.
#: Rows: new x = old z, new y = old x, new z = old y. A cyclic axis permutation, det = +1.
Z_UP_FROM_Y_UP: FloatArray = np.array(
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
)
# The same rotation as a wxyz quaternion: 120° about (1, 1, 1)/√3.
_Q_Z_UP_FROM_Y_UP: FloatArray = np.array([0.5, 0.5, 0.5, 0.5])


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BvhSkeleton:
    """The HIERARCHY section: joints in file order (parents always before children).

    Attributes:
        joint_names: ``J`` names, in file order.
        parents: ``[J]`` parent index of each joint, ``-1`` for the root.
        offsets: ``[J, 3]`` OFFSET of each joint from its parent, file units and axes.
        channels: per joint, its channel names in file order (canonical spelling, e.g.
            ``"Zrotation"``); empty for a joint with no channels.
        end_site_parents: ``[E]`` joint index each End Site hangs from.
        end_site_offsets: ``[E, 3]`` End Site OFFSET in its parent's frame, file units.
    """

    joint_names: tuple[str, ...]
    parents: IntArray
    offsets: FloatArray
    channels: tuple[tuple[str, ...], ...]
    end_site_parents: IntArray
    end_site_offsets: FloatArray
    _first_column: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        starts: list[int] = []
        c = 0
        for chans in self.channels:
            starts.append(c)
            c += len(chans)
        object.__setattr__(self, "_first_column", tuple(starts))

    @property
    def num_joints(self) -> int:
        """Number of joints ``J`` (End Sites not counted)."""
        return len(self.joint_names)

    @property
    def num_channels(self) -> int:
        """Number of values ``C`` per motion frame."""
        return sum(len(c) for c in self.channels)

    @property
    def end_sites(self) -> tuple[tuple[int, FloatArray], ...]:
        """End Sites as ``(parent joint index, offset [3])`` pairs."""
        return tuple(
            (int(p), self.end_site_offsets[i]) for i, p in enumerate(self.end_site_parents)
        )

    @property
    def channel_labels(self) -> tuple[str, ...]:
        """``C`` column labels ``"<joint>.<channel>"``, e.g. ``"Hips.Xposition"``."""
        return tuple(
            f"{name}.{ch}"
            for name, chans in zip(self.joint_names, self.channels, strict=True)
            for ch in chans
        )

    def joint_index(self, name: str) -> int:
        """Index of the joint called ``name``; the error lists the valid names."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise RetargetError(unknown_name("BVH joint", name, self.joint_names)) from None

    def channel_column(self, joint: int, channel_index: int) -> int:
        """Column in ``BvhClip.channels`` of ``channels[joint][channel_index]``."""
        return self._first_column[joint] + channel_index

    def rest_positions(self) -> tuple[FloatArray, FloatArray]:
        """Rest pose (all rotations identity, translations = offsets), file units and axes.

        Returns:
            ``(joint_pos [J, 3], end_site_pos [E, 3])``.
        """
        pos = np.zeros((self.num_joints, 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        ends = pos[self.end_site_parents] + self.end_site_offsets
        return pos, ends.reshape(-1, 3)


@dataclass(frozen=True, eq=False)
class BvhClip:
    """A parsed BVH file: skeleton plus per-frame local joint transforms.

    Attributes:
        source: the file name (or ``"<string>"``) used in messages.
        skeleton: the HIERARCHY.
        frame_time_s: seconds between frames (``Frame Time``), > 0.
        channels: ``[T, C]`` raw MOTION values (file units, degrees), in file column order.
        local_rot: ``[T, J, 4]`` wxyz local rotation of each joint (product of its rotation
            channels in file order; identity for a joint without rotation channels).
        local_pos: ``[T, J, 3]`` local translation in file units: the OFFSET, with components
            replaced by the joint's position channels where it has them.
    """

    source: str
    skeleton: BvhSkeleton
    frame_time_s: float
    channels: FloatArray
    local_rot: FloatArray
    local_pos: FloatArray

    @property
    def num_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.channels.shape[0])

    @property
    def fps(self) -> float:
        """Frames per second, ``1 / frame_time_s``."""
        return 1.0 / self.frame_time_s

    def global_transforms(self) -> tuple[FloatArray, FloatArray]:
        """Forward kinematics over all frames.

        Returns:
            ``(pos [T, J, 3], quat [T, J, 4])``: joint origins in file units and joint
            orientations (wxyz), both in the file's world frame (Y-up).
        """
        return forward_kinematics(self.skeleton.parents, self.local_rot, self.local_pos)

    def end_site_positions(
        self, transforms: tuple[FloatArray, FloatArray] | None = None
    ) -> FloatArray:
        """End Site positions ``[T, E, 3]`` in file units and axes.

        Args:
            transforms: the output of :meth:`global_transforms`, to avoid recomputing it.
        """
        pos, quat = self.global_transforms() if transforms is None else transforms
        sk = self.skeleton
        parent = sk.end_site_parents
        return pos[:, parent] + quat_rotate(quat[:, parent], sk.end_site_offsets)

    def slice_frames(self, start: int, stop: int | None = None) -> BvhClip:
        """A clip with frames ``[start:stop]`` (Python slice rules); must keep >= 1 frame."""
        sl = slice(start, stop)
        n = len(range(*sl.indices(self.num_frames)))
        if n < 1:
            raise RetargetError(
                f"{self.source}: frames [{start}:{stop}] of a {self.num_frames}-frame clip "
                "is empty; expected at least one frame"
            )
        return BvhClip(
            source=self.source,
            skeleton=self.skeleton,
            frame_time_s=self.frame_time_s,
            channels=_readonly(self.channels[sl].copy()),
            local_rot=_readonly(self.local_rot[sl].copy()),
            local_pos=_readonly(self.local_pos[sl].copy()),
        )


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


class _Tokens:
    """The HIERARCHY as a stream of ``(token, line number)``, raising on a premature end."""

    def __init__(
        self, tokens: list[tuple[str, int]], source: str, end_line: int, end_what: str
    ) -> None:
        self.tokens = tokens
        self.i = 0
        self.source = source
        self.end_line = end_line  # where the HIERARCHY tokens stop: the MOTION line or the end
        self.end_what = end_what

    def error(self, line: int, msg: str) -> RetargetError:
        return RetargetError(f"{self.source}: line {line}: {msg}")

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)

    def next(self, expected: str) -> tuple[str, int]:
        if self.i >= len(self.tokens):
            raise self.error(
                self.end_line,
                f"expected {expected}, got {self.end_what} (unbalanced braces or truncated file?)",
            )
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def keyword(self, word: str, context: str) -> int:
        tok, line = self.next(f"'{word}' {context}")
        if tok.lower() != word.lower():
            raise self.error(line, f"expected '{word}' {context}, got {tok!r}")
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(f"a number for {what}")
        try:
            value = float(tok)
        except ValueError:
            raise self.error(line, f"{what}: expected a number, got {tok!r}") from None
        if not math.isfinite(value):
            raise self.error(line, f"{what}: expected a finite number, got {tok!r}")
        return value

    def vector3(self, what: str) -> list[float]:
        return [self.number(f"{what} {axis}") for axis in "xyz"]


def parse_bvh(path: str | os.PathLike[str]) -> BvhClip:
    """Read a BVH file.

    Raises:
        RetargetError: the file is missing or unreadable, or malformed (the message names the
            file and the line or frame).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RetargetError(f"BVH file not found: {path}") from None
    except OSError as e:
        raise RetargetError(f"cannot read BVH file {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # joint names from old exporters; never fails
    return parse_bvh_text(text, source=str(path))


def parse_bvh_text(text: str, source: str = "<string>") -> BvhClip:
    """Parse BVH text; ``source`` names the file in error messages.

    Raises:
        RetargetError: malformed input; the message names ``source`` and the line number
            (HIERARCHY) or the frame index and line (MOTION), the field, and what was expected.
    """
    lines = text.lstrip("\ufeff").splitlines()
    motion_at = next(
        (i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), len(lines)
    )
    tokens = [(tok, i + 1) for i, ln in enumerate(lines[:motion_at]) for tok in ln.split()]
    if motion_at < len(lines):
        toks = _Tokens(tokens, source, end_line=motion_at + 1, end_what="MOTION")
    else:
        toks = _Tokens(tokens, source, end_line=max(len(lines), 1), end_what="end of file")
    skeleton = _parse_hierarchy(toks)
    if motion_at == len(lines):
        raise RetargetError(
            f"{source}: line {len(lines)}: no MOTION section after the HIERARCHY "
            "(expected a line 'MOTION'; truncated?)"
        )
    frame_time_s, values = _parse_motion(lines, motion_at, skeleton, source)
    local_rot, local_pos = _local_transforms(skeleton, values)
    clip = BvhClip(
        source=source,
        skeleton=skeleton,
        frame_time_s=frame_time_s,
        channels=_readonly(values),
        local_rot=_readonly(local_rot),
        local_pos=_readonly(local_pos),
    )
    logger.debug(
        "parsed %s: %d joints, %d channels, %d frames at %.2f fps",
        source,
        skeleton.num_joints,
        skeleton.num_channels,
        clip.num_frames,
        clip.fps,
    )
    return clip


def _parse_hierarchy(toks: _Tokens) -> BvhSkeleton:
    """Parse ``HIERARCHY ROOT name { ... }`` iteratively (no recursion limit on nesting)."""
    toks.keyword("HIERARCHY", "at the start of the file")
    toks.keyword("ROOT", "after HIERARCHY")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float] | None] = []
    channels: list[tuple[str, ...] | None] = []
    end_parents: list[int] = []
    end_offsets: list[list[float]] = []

    def open_joint(parent: int) -> int:
        name, line = toks.next("a joint name")
        if name in ("{", "}"):
            raise toks.error(line, f"expected a joint name, got {name!r}")
        if name in names:
            raise toks.error(line, f"duplicate joint name {name!r}; expected unique names")
        names.append(name)
        parents.append(parent)
        offsets.append(None)
        channels.append(None)
        toks.keyword("{", f"opening joint {name!r}")
        return len(names) - 1

    stack = [open_joint(-1)]
    while stack:
        j = stack[-1]
        name = names[j]
        tok, line = toks.next(f"OFFSET, CHANNELS, JOINT, End Site or '}}' in joint {name!r}")
        word = tok.lower()
        if word == "offset":
            if offsets[j] is not None:
                raise toks.error(line, f"second OFFSET in joint {name!r}; expected one")
            offsets[j] = toks.vector3(f"OFFSET of joint {name!r}")
        elif word == "channels":
            if channels[j] is not None:
                raise toks.error(line, f"second CHANNELS in joint {name!r}; expected one")
            channels[j] = _parse_channels(toks, name)
        elif word == "joint":
            stack.append(open_joint(j))
        elif word == "end":
            toks.keyword("Site", f"after 'End' in joint {name!r}")
            toks.keyword("{", f"opening the End Site of joint {name!r}")
            toks.keyword("OFFSET", f"in the End Site of joint {name!r}")
            end_offsets.append(toks.vector3(f"End Site OFFSET of joint {name!r}"))
            end_parents.append(j)
            toks.keyword("}", f"closing the End Site of joint {name!r}")
        elif tok == "}":
            if offsets[j] is None:
                raise toks.error(line, f"joint {name!r} closed without an OFFSET; expected one")
            stack.pop()
        else:
            raise toks.error(
                line,
                f"unexpected {tok!r} in joint {name!r}; "
                "expected OFFSET, CHANNELS, JOINT, End Site or '}'",
            )
    if not toks.at_end():
        tok, line = toks.next("")
        raise toks.error(
            line, f"unexpected {tok!r} after the root joint's closing '}}'; expected MOTION"
        )
    skeleton = BvhSkeleton(
        joint_names=tuple(names),
        parents=_readonly(np.array(parents, dtype=np.int64)),
        offsets=_readonly(np.array(offsets, dtype=np.float64).reshape(-1, 3)),
        channels=tuple(c or () for c in channels),
        end_site_parents=_readonly(np.array(end_parents, dtype=np.int64)),
        end_site_offsets=_readonly(np.array(end_offsets, dtype=np.float64).reshape(-1, 3)),
    )
    if skeleton.num_channels == 0:
        raise toks.error(toks.end_line, "the HIERARCHY has no CHANNELS; expected at least one")
    return skeleton


def _parse_channels(toks: _Tokens, joint: str) -> tuple[str, ...]:
    tok, line = toks.next(f"the channel count of joint {joint!r}")
    if not (tok.isascii() and tok.isdigit()) or int(tok) > len(CHANNEL_NAMES) * 3:
        raise toks.error(
            line, f"CHANNELS of joint {joint!r}: expected a channel count 0..18, got {tok!r}"
        )
    count = int(tok)
    out: list[str] = []
    for k in range(count):
        tok, line = toks.next(f"channel {k + 1} of {count} of joint {joint!r}")
        canonical = _CHANNEL_BY_LOWER.get(tok.lower())
        if canonical is None:
            raise toks.error(
                line,
                f"CHANNELS of joint {joint!r}: channel {k + 1} of {count}: "
                + unknown_name("channel", tok, CHANNEL_NAMES),
            )
        if canonical.endswith("position") and canonical in out:
            raise toks.error(
                line, f"CHANNELS of joint {joint!r}: {canonical} twice; expected it once"
            )
        out.append(canonical)
    return tuple(out)


_FRAMES_RE = re.compile(r"^\s*Frames\s*:\s*(\S*)\s*$", re.IGNORECASE)
_FRAME_TIME_RE = re.compile(r"^\s*Frame\s+Time\s*:\s*(\S*)\s*$", re.IGNORECASE)


def _parse_motion(
    lines: list[str], motion_at: int, skeleton: BvhSkeleton, source: str
) -> tuple[float, FloatArray]:
    """Parse ``Frames:``, ``Frame Time:`` and the frame lines after the ``MOTION`` line.

    Returns:
        ``(frame_time_s, values [T, C])``.
    """
    # (line number, text) of the non-blank lines after MOTION
    rest = [(i + 1, ln) for i, ln in enumerate(lines[motion_at + 1 :], motion_at + 1) if ln.strip()]

    def header(k: int, regex: re.Pattern[str], field_name: str, example: str) -> tuple[str, int]:
        if k >= len(rest):
            raise RetargetError(
                f"{source}: line {len(lines)}: unexpected end of file; "
                f"expected '{field_name}' after MOTION (truncated?)"
            )
        line_no, text = rest[k]
        m = regex.match(text)
        if m is None:
            raise RetargetError(
                f"{source}: line {line_no}: expected '{field_name} {example}', "
                f"got {text.strip()[:60]!r}"
            )
        return m.group(1), line_no

    frames_tok, frames_line = header(0, _FRAMES_RE, "Frames:", "<count>")
    if not (frames_tok.isascii() and frames_tok.isdigit()):
        raise RetargetError(
            f"{source}: line {frames_line}: Frames: expected a non-negative integer, "
            f"got {frames_tok!r}"
        )
    num_frames = int(frames_tok)
    if num_frames == 0:
        raise RetargetError(f"{source}: line {frames_line}: Frames: 0; expected at least 1 frame")
    ft_tok, ft_line = header(1, _FRAME_TIME_RE, "Frame Time:", "<seconds>")
    try:
        frame_time_s = float(ft_tok)
    except ValueError:
        frame_time_s = math.nan
    if not (math.isfinite(frame_time_s) and frame_time_s > 0.0):
        raise RetargetError(
            f"{source}: line {ft_line}: Frame Time: expected a finite number of seconds > 0, "
            f"got {ft_tok!r}"
        )

    frame_lines = rest[2:]
    num_channels = skeleton.num_channels
    rows: list[list[str]] = []
    for f, (line_no, text) in enumerate(frame_lines):
        parts = text.split()
        if len(parts) != num_channels:
            raise RetargetError(
                f"{source}: frame {f} (line {line_no}): expected {num_channels} values "
                f"(one per channel), got {len(parts)}"
            )
        rows.append(parts)
    if len(rows) != num_frames:
        raise RetargetError(
            f"{source}: line {frames_line}: 'Frames: {num_frames}' but the file has "
            f"{len(rows)} frame lines (frames 0..{len(rows) - 1}); expected them to agree "
            "(truncated?)"
        )
    try:
        values = np.array(rows, dtype=np.float64).reshape(num_frames, num_channels)
    except ValueError:
        values = _locate_bad_number(rows, frame_lines, skeleton, source)
    bad = ~np.isfinite(values)
    if bad.any():
        f, c = (int(i) for i in np.argwhere(bad)[0])
        raise RetargetError(
            f"{source}: frame {f} (line {frame_lines[f][0]}): channel "
            f"{skeleton.channel_labels[c]} (value {c + 1} of {num_channels}) is "
            f"{rows[f][c]!r}; expected a finite number"
        )
    return frame_time_s, values


def _locate_bad_number(
    rows: list[list[str]],
    frame_lines: list[tuple[int, str]],
    skeleton: BvhSkeleton,
    source: str,
) -> FloatArray:
    """Slow path of :func:`_parse_motion`: find the value that is not a number and raise."""
    labels = skeleton.channel_labels
    for f, parts in enumerate(rows):
        for c, tok in enumerate(parts):
            try:
                float(tok)
            except ValueError:
                raise RetargetError(
                    f"{source}: frame {f} (line {frame_lines[f][0]}): channel {labels[c]} "
                    f"(value {c + 1} of {len(parts)}): expected a number, got {tok!r}"
                ) from None
    # float() accepted every token but NumPy did not (e.g. "1_0"): parse with float() instead.
    return np.array([[float(t) for t in parts] for parts in rows], dtype=np.float64)


def _local_transforms(skeleton: BvhSkeleton, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Local rotations ``[T, J, 4]`` (wxyz) and translations ``[T, J, 3]`` from ``[T, C]``."""
    num_frames = values.shape[0]
    local_rot = np.zeros((num_frames, skeleton.num_joints, 4))
    local_rot[..., 0] = 1.0
    local_pos = np.broadcast_to(skeleton.offsets, (num_frames, skeleton.num_joints, 3)).copy()
    eye = np.eye(3)
    for j, chans in enumerate(skeleton.channels):
        q = None
        for k, ch in enumerate(chans):
            column = values[:, skeleton.channel_column(j, k)]
            axis = _AXIS[ch[0]]
            if ch.endswith("position"):
                local_pos[:, j, axis] = column
            else:
                q_axis = quat_from_axis_angle(eye[axis], np.deg2rad(column))
                q = q_axis if q is None else quat_mul(q, q_axis)
        if q is not None:
            local_rot[:, j] = q
    return local_rot, local_pos


# --------------------------------------------------------------------------------------------
# Kinematics
# --------------------------------------------------------------------------------------------


def forward_kinematics(
    parents: ArrayLike, local_rot: ArrayLike, local_pos: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Global joint transforms, vectorized over frames.

    ``quat_j = quat_parent ⊗ local_rot_j`` and ``pos_j = pos_parent + quat_parent · local_pos_j``
    (the root's are its local ones).

    Args:
        parents: ``[J]`` parent indices, ``-1`` for a root; each parent must come before its
            children (true for every :class:`BvhSkeleton`).
        local_rot: ``[T, J, 4]`` wxyz local rotations.
        local_pos: ``[T, J, 3]`` local translations.

    Returns:
        ``(pos [T, J, 3], quat [T, J, 4])`` in the frame of the roots' parent (the file's world).
    """
    parents = np.asarray(parents, dtype=np.int64)
    local_rot = np.asarray(local_rot, dtype=np.float64)
    local_pos = np.asarray(local_pos, dtype=np.float64)
    pos = np.empty_like(local_pos)
    quat = np.empty_like(local_rot)
    for j, p in enumerate(parents):
        if p >= j:
            raise RetargetError(f"joint {j} has parent {p}; expected parents before children")
        if p < 0:
            quat[:, j] = local_rot[:, j]
            pos[:, j] = local_pos[:, j]
        else:
            quat[:, j] = quat_mul(quat[:, p], local_rot[:, j])
            pos[:, j] = pos[:, p] + quat_rotate(quat[:, p], local_pos[:, j])
    return pos, quat


# --------------------------------------------------------------------------------------------
# Helpers for the retargeter: axes, units, the T-pose frame
# --------------------------------------------------------------------------------------------


def to_z_up_pos(pos_y_up: ArrayLike) -> FloatArray:
    """Points or vectors ``[..., 3]`` from BVH Y-up axes to humimic Z-up axes (same units).

    BVH: Y up, the character faces +Z, so its left is +X. humimic: X forward, Y left, Z up.
    Mapping (a proper rotation, det +1, 120° about (1, 1, 1)): ``(x, y, z) → (z, x, y)``,
    i.e. file +Z (forward) → +X, file +X (left) → +Y, file +Y (up) → +Z.
    """
    return np.asarray(pos_y_up, dtype=np.float64) @ Z_UP_FROM_Y_UP.T


def to_z_up_quat(quat_y_up: ArrayLike) -> FloatArray:
    """Rotations ``[..., 4]`` (wxyz) re-expressed in humimic Z-up axes: ``M R Mᵀ``.

    The whole clip changes basis, body frames included, so an identity rotation stays the
    identity and a body-frame vector ``v`` (e.g. an OFFSET) must be mapped with
    :func:`to_z_up_pos` too: ``M (R v) = (M R Mᵀ)(M v)``.
    """
    q = np.asarray(quat_y_up, dtype=np.float64)
    return quat_change_basis(q, _Q_Z_UP_FROM_Y_UP)


def to_z_up(pos_y_up: ArrayLike, quat_y_up: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """``(pos [..., 3], quat [..., 4])`` from BVH Y-up to humimic Z-up; see :func:`to_z_up_pos`."""
    return to_z_up_pos(pos_y_up), to_z_up_quat(quat_y_up)


def rest_height_units(skeleton: BvhSkeleton) -> float:
    """Height of the rest pose (offsets only) along the file's up axis Y, in file units.

    From the highest to the lowest point among joints and End Sites: for a human skeleton,
    head-top End Site to the lowest foot/toe End Site.
    """
    joints, ends = skeleton.rest_positions()
    y = np.concatenate([joints[:, 1], ends[:, 1]])
    return float(y.max() - y.min())


def detect_unit_scale(clip: BvhClip | BvhSkeleton, m_per_unit: float | None = None) -> float:
    """Metres per file unit.

    With ``m_per_unit`` given, return it (checked > 0). Otherwise measure the rest-pose height
    (:func:`rest_height_units`) and pick the unit of :data:`UNIT_SCALES_M` (metre, centimetre,
    millimetre, inch, CMU's 0.0254/0.45 m) that makes it closest to :data:`NOMINAL_HEIGHT_M`
    (ratio in log space). A CMU skeleton is ≈ 24 units tall at rest (legs splayed ≈ 20°):
    1.36 m in CMU units, 0.61 m in inches, 24 m in metres → CMU.

    Raises:
        RetargetError: a non-positive override, or no unit gives a height in 0.5–3 m.
    """
    skeleton = clip.skeleton if isinstance(clip, BvhClip) else clip
    source = clip.source if isinstance(clip, BvhClip) else "BVH skeleton"
    if m_per_unit is not None:
        if not (math.isfinite(m_per_unit) and m_per_unit > 0.0):
            raise RetargetError(f"{source}: m_per_unit must be finite and > 0, got {m_per_unit}")
        return float(m_per_unit)
    height = rest_height_units(skeleton)
    if not height > 0.0:
        raise RetargetError(
            f"{source}: rest pose has zero height along Y; cannot detect the unit "
            "(pass m_per_unit explicitly)"
        )
    unit, scale = min(
        UNIT_SCALES_M.items(), key=lambda kv: abs(math.log(height * kv[1] / NOMINAL_HEIGHT_M))
    )
    height_m = height * scale
    if not _HEIGHT_FAIL_M[0] <= height_m <= _HEIGHT_FAIL_M[1]:
        raise RetargetError(
            f"{source}: rest-pose height {height:.4g} units fits no known unit "
            f"(best: {unit}, {height_m:.2f} m; expected a human of "
            f"{PLAUSIBLE_HEIGHT_M[0]}–{PLAUSIBLE_HEIGHT_M[1]} m); pass m_per_unit explicitly"
        )
    level = logging.INFO
    if not PLAUSIBLE_HEIGHT_M[0] <= height_m <= PLAUSIBLE_HEIGHT_M[1]:
        level = logging.WARNING
    logger.log(
        level,
        "%s: rest height %.4g units → unit %s (%.6g m/unit, %.2f m tall)",
        source,
        height,
        unit,
        scale,
        height_m,
    )
    return scale


#: :func:`has_tpose_first_frame` thresholds: root position equal to this many file units, and
#: the mean joint rotation change 0→1 at least this many degrees and this many times 1→2.
TPOSE_ROOT_TOL_UNITS = 1e-3
TPOSE_MIN_MEAN_DEG = 5.0
TPOSE_MIN_RATIO = 5.0


def _mean_angle_deg(q_a: FloatArray, q_b: FloatArray) -> float:
    """Mean over joints of the angle (deg) between rotations ``q_a [J, 4]`` and ``q_b [J, 4]``."""
    dot = np.abs(np.sum(q_a * q_b, axis=-1)) / (
        np.linalg.norm(q_a, axis=-1) * np.linalg.norm(q_b, axis=-1)
    )
    return float(np.degrees(2.0 * np.arccos(np.clip(dot, 0.0, 1.0))).mean())


def has_tpose_first_frame(clip: BvhClip) -> bool:
    """Whether frame 0 is an added T-pose (as in the CMU BVH conversions), not captured motion.

    Heuristic, on the raw local transforms: the root joint's position in frame 0 equals frame
    1's (within :data:`TPOSE_ROOT_TOL_UNITS`; the converter copied it), while the joint
    rotations jump: the mean over joints of the rotation angle between frames 0 and 1 is at
    least :data:`TPOSE_MIN_MEAN_DEG` and at least :data:`TPOSE_MIN_RATIO` times the same mean
    between frames 1 and 2 (captured motion changes little per frame). Needs 3 frames.
    """
    if clip.num_frames < 3:
        return False
    root = 0  # the ROOT is always joint 0
    same_root = np.allclose(
        clip.local_pos[0, root], clip.local_pos[1, root], rtol=0.0, atol=TPOSE_ROOT_TOL_UNITS
    )
    d01 = _mean_angle_deg(clip.local_rot[0], clip.local_rot[1])
    d12 = _mean_angle_deg(clip.local_rot[1], clip.local_rot[2])
    found = bool(same_root and d01 >= TPOSE_MIN_MEAN_DEG and d01 >= TPOSE_MIN_RATIO * d12)
    logger.debug(
        "%s: T-pose test: root equal %s, mean rotation change 0→1 %.2f°, 1→2 %.2f° → %s",
        clip.source,
        same_root,
        d01,
        d12,
        found,
    )
    return found


def strip_tpose_frame(clip: BvhClip, skip_first_frame: bool | None = None) -> BvhClip:
    """The clip without its T-pose frame 0.

    Args:
        skip_first_frame: ``True`` drops frame 0, ``False`` keeps every frame, ``None``
            (default) drops it when :func:`has_tpose_first_frame` says it is a T-pose.
    """
    if skip_first_frame is None:
        skip_first_frame = has_tpose_first_frame(clip)
        if skip_first_frame:
            logger.info("%s: frame 0 is an added T-pose; dropping it", clip.source)
    return clip.slice_frames(1) if skip_first_frame else clip
