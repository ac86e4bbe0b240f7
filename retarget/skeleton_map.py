"""Map a mocap skeleton's joints onto humimic's canonical human skeleton.

The canonical skeleton is the 19 joints a robot's ``human_map`` refers to
(:data:`CANONICAL_JOINTS`, tree in :data:`CANONICAL_PARENTS`)::

    pelvis ─ spine ─ chest ─ neck ─ head
      │                └─ {left,right}_shoulder ─ _elbow ─ _wrist
      └─ {left,right}_hip ─ _knee ─ _ankle ─ _toe

:func:`resolve_mapping` finds, for each canonical joint, the source joint that plays its role,
in this order of precedence:

1. a user **mapping file** (YAML ``canonical: source joint``, ``null`` to leave one unmapped);
   its entries override whatever step 2–4 found for the same canonical joints;
2. a **named preset** (:data:`PRESETS`: ``cmu``, ``lafan1``, ``mixamo``, ``deepmimic``);
3. an **auto-detected preset**: the preset whose essential joint names are all present and
   which names the most joints of the skeleton (ties: :data:`PRESETS` order), provided its
   mapping is consistent with the skeleton's tree;
4. the **matcher** (``preset="none"`` forces it): names and tree together.

The matcher, in brief (see :func:`classify_joint_name` and :func:`match_skeleton`):

* **Names** are split into tokens (camelCase, ``_``, ``.``, spaces, digits), after dropping a
  namespace (``mixamorig:``) and a 3ds Max ``Bip01`` token. A **side** comes from a whole token
  (``left``/``l``/``lft``/``lt``, ``right``/``r``/``rgt``/``rt``) or from a ``l``/``r``/``left``
  /``right`` prefix glued to an exact limb word (``lhip``, ``rknee``); so ``LHipJoint`` is left,
  ``thigh_l`` is left, and ``LowerBack`` has no side. The **part** comes from synonyms, first
  match wins: fingers/thumbs/twist/end sites are ignored; forearm/lowerarm/elbow → elbow;
  upperarm/arm → upper arm; shoulder/clavicle/collar → clavicle; upleg/upperleg/thigh/hip →
  hip (``hip``/``hips`` without a side → pelvis); knee/shin/calf/lowerleg/leg → knee;
  ankle/foot → ankle; toe/ball → toe; wrist/hand → wrist; head; neck;
  spine/chest/back/torso/... → spine; pelvis/root → pelvis.
* **The tree** then decides. Per limb and side: the knee (elbow) is the shallowest candidate
  with an ankle (wrist) candidate below it; the ankle (wrist) is the nearest candidate below the
  knee (elbow); the hip (shoulder) is the nearest candidate *above* the knee (elbow) (above
  the ankle (wrist) when no knee (elbow) is named, so an error names just that one), so CMU's
  ``LeftUpLeg`` wins over ``LHipJoint`` and ``LeftArm``/``upperarm_l`` over the clavicle
  ``LeftShoulder``/``clavicle_l``; the toe is the nearest candidate below the ankle. The pelvis
  is the lowest common ancestor of the two hips; the chest is the lowest common ancestor of the
  two shoulders (the joint the arms branch from; if that joint is a neck, it becomes the neck
  and its parent the chest); the spine is the joint on the pelvis→chest path just above the
  pelvis (none if the chest hangs straight off the pelvis); the neck and the head are the
  nearest neck/head candidates below the chest.
* Not handled: a skeleton with no side in its names (telling left from right by mirrored
  offsets would need the rest pose and a facing convention); pass a mapping file instead.

:data:`ESSENTIAL` joints must be mapped, or :class:`~humimic.errors.RetargetError` lists the
unmatched canonical joints and the skeleton's joints. The others (spine, chest, toes, and one of
neck/head) may stay unmapped; :attr:`SkeletonMapping.unmapped` lists them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

from humimic.errors import RetargetError, unknown_name

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Canonical skeleton
# --------------------------------------------------------------------------------------------

#: The canonical human joints, in a fixed order (torso, legs, arms).
CANONICAL_JOINTS: tuple[str, ...] = (
    "pelvis",
    "spine",
    "chest",
    "neck",
    "head",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_toe",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_toe",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)

#: Parent of each canonical joint (``None`` for the pelvis, the root).
CANONICAL_PARENTS: Mapping[str, str | None] = MappingProxyType(
    {
        "pelvis": None,
        "spine": "pelvis",
        "chest": "spine",
        "neck": "chest",
        "head": "neck",
        **{
            f"{side}_{part}": parent
            for side in ("left", "right")
            for part, parent in (
                ("hip", "pelvis"),
                ("knee", f"{side}_hip"),
                ("ankle", f"{side}_knee"),
                ("toe", f"{side}_ankle"),
                ("shoulder", "chest"),
                ("elbow", f"{side}_shoulder"),
                ("wrist", f"{side}_elbow"),
            )
        },
    }
)

#: Joints retargeting cannot do without: the root, and every joint that fixes the pose of a
#: leg or an arm segment (thigh, shank, foot; upper arm, forearm, hand). Optional: ``spine`` and
#: ``chest`` (the torso orientation can come from the hips and shoulders; DeepMimic has no
#: spine), the toes (DeepMimic has none; foot yaw then comes from the ankle), and one of
#: ``neck``/``head``, of which at least one must be mapped (:data:`HEAD_OR_NECK`).
ESSENTIAL: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)
#: At least one of these must be mapped (DeepMimic's humanoid has a neck but no head joint).
HEAD_OR_NECK: tuple[str, ...] = ("head", "neck")

# --------------------------------------------------------------------------------------------
# Presets (canonical → source joint name)
# --------------------------------------------------------------------------------------------


def _preset(
    torso: Mapping[str, str], limbs: Mapping[str, str], sides: tuple[str, str] = ("Left", "Right")
) -> Mapping[str, str]:
    """A preset from its torso names and limb name templates (``{side}`` → ``sides``)."""
    out = dict(torso)
    for side, word in zip(("left", "right"), sides, strict=True):
        out.update({f"{side}_{part}": tmpl.format(side=word) for part, tmpl in limbs.items()})
    return MappingProxyType({c: out[c] for c in CANONICAL_JOINTS if c in out})


_BVH_LIMBS = {
    "hip": "{side}UpLeg",
    "knee": "{side}Leg",
    "ankle": "{side}Foot",
    "shoulder": "{side}Arm",  # {side}Shoulder is the clavicle
    "elbow": "{side}ForeArm",
    "wrist": "{side}Hand",
}

#: CMU, Hahne's BVH conversion: ``LHipJoint``/``LeftShoulder`` are the pelvis/clavicle bones;
#: ``LowerBack`` (at the hips) is the lumbar joint; the arms branch from ``Spine1``. ``Neck`` sits
#: where ``Spine1`` ends; ``Neck1`` (upper neck) is left out.
CMU: Mapping[str, str] = _preset(
    {"pelvis": "Hips", "spine": "LowerBack", "chest": "Spine1", "neck": "Neck", "head": "Head"},
    {**_BVH_LIMBS, "toe": "{side}ToeBase"},
)
#: Ubisoft LAFAN1 BVH: arms branch from ``Spine2``.
LAFAN1: Mapping[str, str] = _preset(
    {"pelvis": "Hips", "spine": "Spine", "chest": "Spine2", "neck": "Neck", "head": "Head"},
    {**_BVH_LIMBS, "toe": "{side}Toe"},
)
#: Mixamo: names carry a namespace, ``mixamorig:`` (or ``mixamorig1:``, ...; any prefix before
#: ``:`` is accepted when matching).
MIXAMO: Mapping[str, str] = MappingProxyType(
    {
        c: f"mixamorig:{n}"
        for c, n in _preset(
            {"pelvis": "Hips", "spine": "Spine", "chest": "Spine2", "neck": "Neck", "head": "Head"},
            {**_BVH_LIMBS, "toe": "{side}ToeBase"},
        ).items()
    }
)
#: DeepMimic ``humanoid3d``: no spine joint between root and chest, no head joint (the neck
#: carries the head), no toes; those stay unmapped.
DEEPMIMIC: Mapping[str, str] = _preset(
    {"pelvis": "root", "chest": "chest", "neck": "neck"},
    {p: "{side}_" + p for p in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")},
    sides=("left", "right"),
)

#: Presets by name, in auto-detection tie-break order.
PRESETS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"cmu": CMU, "lafan1": LAFAN1, "mixamo": MIXAMO, "deepmimic": DEEPMIMIC}
)
#: ``preset`` values that skip presets and run the matcher.
MATCHER_ONLY: tuple[str, ...] = ("none", "matched")

# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkeletonMapping:
    """Which source joint plays each canonical joint.

    Attributes:
        indices: canonical joint → source joint index (mapped joints only, canonical order).
        names: canonical joint → source joint name (same keys as ``indices``).
        preset: the preset that produced the mapping (``"cmu"``, ...), or ``"matched"``.
        unmapped: optional canonical joints left unmapped, in canonical order.
        source: the file name used in messages.
        mapping_file: the user mapping file applied on top, if any.
    """

    indices: Mapping[str, int]
    names: Mapping[str, str]
    preset: str
    unmapped: tuple[str, ...]
    source: str = "<skeleton>"
    mapping_file: str | None = None

    def index(self, canonical: str) -> int:
        """Source joint index of ``canonical``; raises if it is unknown or unmapped."""
        if canonical not in CANONICAL_PARENTS:
            raise RetargetError(unknown_name("canonical joint", canonical, CANONICAL_JOINTS))
        if canonical not in self.indices:
            raise RetargetError(
                f"{self.source}: canonical joint {canonical!r} is not mapped; "
                f"mapped: {', '.join(self.indices)}"
            )
        return self.indices[canonical]


# --------------------------------------------------------------------------------------------
# Name classification
# --------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SIDE_WORDS = {
    "left": "left",
    "l": "left",
    "lft": "left",
    "lt": "left",
    "right": "right",
    "r": "right",
    "rgt": "right",
    "rt": "right",
}
#: Limb words a side prefix may be glued to (``lhip``, ``rightupleg``).
_LIMB_WORDS = frozenset(
    "hip thigh upleg upperleg knee leg shin calf lowerleg ankle foot toe toes toebase ball "
    "shoulder clavicle collar arm uparm upperarm elbow forearm lowerarm wrist hand".split()
)
#: (part, pattern searched in the side-less tokens joined together); first match wins.
_PART_PATTERNS: tuple[tuple[str | None, re.Pattern[str]], ...] = tuple(
    (part, re.compile(pattern))
    for part, pattern in (
        (None, r"end|nub|site|top|finger|thumb|index|middle|ring|pinky|pinkie|twist|roll|eye|jaw"),
        ("elbow", r"forearm|lowerarm|elbow"),
        ("upperarm", r"upperarm|uparm|arm"),
        ("clavicle", r"clavicle|collar|shoulder"),
        ("hip", r"upleg|upperleg|thigh|hip"),
        ("knee", r"knee|shin|calf|lowerleg|leg"),
        ("ankle", r"ankle|foot"),
        ("toe", r"toe|ball"),
        ("wrist", r"wrist|hand"),
        ("head", r"head"),
        ("neck", r"neck"),
        ("spine", r"spine|chest|back|torso|abdomen|waist|lumbar|thorax"),
        ("pelvis", r"pelvis|root"),
    )
)


def _strip_namespace(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def _part_of(joined: str) -> str | None:
    for part, pattern in _PART_PATTERNS:
        if pattern.search(joined):
            return part
    return None


def classify_joint_name(name: str) -> tuple[str | None, str | None]:
    """Side and body part a joint name suggests.

    Returns:
        ``(side, part)``: side is ``"left"``, ``"right"`` or ``None``; part is one of
        ``pelvis spine neck head hip knee ankle toe clavicle upperarm elbow wrist`` or ``None``
        (unknown, or a finger/end site/twist joint to ignore).

    >>> classify_joint_name("LHipJoint"), classify_joint_name("LowerBack")
    (('left', 'hip'), (None, 'spine'))
    >>> classify_joint_name("mixamorig:RightForeArm"), classify_joint_name("thigh_l")
    (('right', 'elbow'), ('left', 'hip'))
    """
    tokens = [t.lower() for t in _TOKEN_RE.findall(_strip_namespace(name))]
    if tokens[:1] == ["bip"]:  # 3ds Max biped: "Bip01 L Thigh"
        tokens = tokens[2:] if tokens[1:2] and tokens[1].isdigit() else tokens[1:]
    side: str | None = None
    rest: list[str] = []
    for tok in tokens:
        if side is None and tok in _SIDE_WORDS:
            side = _SIDE_WORDS[tok]
            continue
        if side is None:
            glued = next(
                (
                    (_SIDE_WORDS[p], tok[len(p) :])
                    for p in ("left", "right", "l", "r")
                    if tok.startswith(p) and tok[len(p) :] in _LIMB_WORDS
                ),
                None,
            )
            if glued is not None:
                side, tok = glued
        rest.append(tok)
    part = _part_of("".join(rest))
    if part == "hip" and side is None:
        part = "pelvis"  # "Hips", "hip" without a side: the pelvis
    return side, part


# --------------------------------------------------------------------------------------------
# The matcher
# --------------------------------------------------------------------------------------------


class _Tree:
    """Parent array helpers: depth, ancestry, lowest common ancestor."""

    def __init__(self, parents: Sequence[int]) -> None:
        self.parents = [int(p) for p in parents]
        self.depth: list[int] = []
        for j, p in enumerate(self.parents):
            # parents come before children (BVH order); fall back to walking up otherwise
            self.depth.append(self.depth[p] + 1 if 0 <= p < j else len(self.ancestors(j)))

    def ancestors(self, j: int) -> list[int]:
        """Strict ancestors of ``j``, nearest first."""
        out: list[int] = []
        p = self.parents[j]
        while p >= 0 and len(out) <= len(self.parents):
            out.append(p)
            p = self.parents[p]
        return out

    def is_below(self, j: int, a: int) -> bool:
        """``j`` is a strict descendant of ``a``."""
        return a in self.ancestors(j)

    def lca(self, a: int, b: int) -> int | None:
        above_a = [a, *self.ancestors(a)]
        return next((x for x in [b, *self.ancestors(b)] if x in above_a), None)

    def nearest_below(self, a: int, candidates: Sequence[int]) -> int | None:
        below = [c for c in candidates if self.is_below(c, a)]
        return min(below, key=lambda c: (self.depth[c], c), default=None)

    def nearest_above(self, j: int, candidates: Sequence[int]) -> int | None:
        return next((a for a in self.ancestors(j) if a in candidates), None)


#: Per limb: canonical joint suffixes, and the name parts of (top, middle, end, tip) joints.
_LIMBS: tuple[tuple[tuple[str, ...], tuple[tuple[str, ...], str, str, str | None]], ...] = (
    (("hip", "knee", "ankle", "toe"), (("hip",), "knee", "ankle", "toe")),
    (("shoulder", "elbow", "wrist"), (("upperarm", "clavicle"), "elbow", "wrist", None)),
)


def match_skeleton(joint_names: Sequence[str], parents: Sequence[int]) -> dict[str, int]:
    """Propose canonical joint → source joint index from names and the tree (module docstring).

    Returns only the canonical joints it found; it never raises for missing ones.
    """
    tree = _Tree(parents)
    classes = [classify_joint_name(n) for n in joint_names]

    def cands(part: str, side: str | None = None) -> list[int]:
        return [j for j, (s, p) in enumerate(classes) if p == part and s == side]

    found: dict[str, int] = {}
    for side in ("left", "right"):
        for canon, (top_parts, mid_part, end_part, tip_part) in _LIMBS:
            ends = cands(end_part, side)
            mids = cands(mid_part, side)
            with_end = [m for m in mids if tree.nearest_below(m, ends) is not None]
            mid = min(with_end or mids, key=lambda m: (tree.depth[m], m), default=None)
            if mid is not None:
                found[f"{side}_{canon[1]}"] = mid
                end = tree.nearest_below(mid, ends)
            else:  # no middle joint: still place the end and the top, the error names the middle
                end = min(ends, key=lambda e: (tree.depth[e], e), default=None)
            below = mid if mid is not None else end
            tops = [j for part in top_parts for j in cands(part, side)]
            if below is not None and (up := tree.nearest_above(below, tops)) is not None:
                found[f"{side}_{canon[0]}"] = up
            if end is None:
                continue
            found[f"{side}_{canon[2]}"] = end
            if tip_part and (tip := tree.nearest_below(end, cands(tip_part, side))) is not None:
                found[f"{side}_{canon[3]}"] = tip

    def lca_of(a: str, b: str) -> int | None:
        return tree.lca(found[a], found[b]) if a in found and b in found else None

    pelvis = lca_of("left_hip", "right_hip")
    if pelvis is None:
        pelvis = min(cands("pelvis"), key=lambda j: (tree.depth[j], j), default=None)
    if pelvis is not None:
        found["pelvis"] = pelvis

    chest = lca_of("left_shoulder", "right_shoulder")
    neck: int | None = None
    if chest is not None and classes[chest][1] in ("neck", "head"):
        neck, chest = chest, tree.parents[chest]  # arms hang off the neck: chest is below it
    if chest is not None and (chest < 0 or chest == pelvis):
        chest = None
    if chest is not None:
        found["chest"] = chest
        if pelvis is not None and tree.is_below(chest, pelvis):
            between = tree.ancestors(chest)[: tree.ancestors(chest).index(pelvis)]
            if between:
                found["spine"] = between[-1]
    top = neck if neck is not None else chest if chest is not None else pelvis
    if top is not None:
        if neck is None:
            neck = tree.nearest_below(top, cands("neck"))
        if neck is not None:
            found["neck"] = neck
        head = tree.nearest_below(neck if neck is not None else top, cands("head"))
        if head is not None:
            found["head"] = head
    logger.debug(
        "matcher: %s",
        ", ".join(f"{c}={joint_names[found[c]]}" for c in CANONICAL_JOINTS if c in found),
    )
    return {c: found[c] for c in CANONICAL_JOINTS if c in found}


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------


def _find_joint(name: str, joint_names: Sequence[str]) -> int | None:
    """Index of ``name``: exact, else ignoring namespace (``mixamorig:``), else also case."""
    if name in joint_names:
        return joint_names.index(name)
    for key in (_strip_namespace, lambda n: _strip_namespace(n).lower()):
        hits = [j for j, n in enumerate(joint_names) if key(n) == key(name)]
        if len(hits) == 1:
            return hits[0]
    return None


def _apply_preset(preset: Mapping[str, str], joint_names: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for canonical, name in preset.items():
        if (j := _find_joint(name, joint_names)) is not None:
            out[canonical] = j
    return out


def _tree_problems(found: Mapping[str, int], tree: _Tree, joint_names: Sequence[str]) -> list[str]:
    """Canonical joints whose source joint is not below the source of its canonical parent."""
    problems = []
    for c, j in found.items():
        p = CANONICAL_PARENTS[c]
        while p is not None and p not in found:
            p = CANONICAL_PARENTS[p]
        if p is not None and not tree.is_below(j, found[p]):
            problems.append(f"{c}={joint_names[j]} is not below {p}={joint_names[found[p]]}")
    return problems


def _missing_essential(found: Mapping[str, int]) -> list[str]:
    missing = [c for c in ESSENTIAL if c not in found]
    if not any(c in found for c in HEAD_OR_NECK):
        missing += list(HEAD_OR_NECK)
    return [c for c in CANONICAL_JOINTS if c in missing]


def _detect_preset(joint_names: Sequence[str], tree: _Tree) -> str | None:
    best: tuple[int, str] | None = None
    for name, preset in PRESETS.items():
        found = _apply_preset(preset, joint_names)
        if _missing_essential(found) or _tree_problems(found, tree, joint_names):
            continue
        if best is None or len(found) > best[0]:
            best = (len(found), name)
    return None if best is None else best[1]


def _read_mapping_file(
    path: str | os.PathLike[str], joint_names: Sequence[str]
) -> dict[str, int | None]:
    """``canonical: source joint`` (or ``null``) from a YAML file, every name checked."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RetargetError(f"mapping file {path}: cannot read ({e.strerror})") from e
    except yaml.YAMLError as e:
        raise RetargetError(f"mapping file {path}: not valid YAML ({e})") from e
    if not isinstance(data, dict):
        raise RetargetError(
            f"mapping file {path}: expected a YAML mapping 'canonical joint: source joint', "
            f"got {type(data).__name__}"
        )
    errors: list[str] = []
    bad_keys = [str(k) for k in data if k not in CANONICAL_PARENTS]
    if bad_keys:
        errors.append(f"unknown canonical joints {bad_keys}; valid: {', '.join(CANONICAL_JOINTS)}")
    out: dict[str, int | None] = {}
    bad_values: list[str] = []
    for k, v in data.items():
        if k not in CANONICAL_PARENTS:
            continue
        if v is None:
            out[k] = None
        elif isinstance(v, str) and (j := _find_joint(v, joint_names)) is not None:
            out[k] = j
        else:
            bad_values.append(f"{k}: {v!r}")
    if bad_values:
        errors.append(
            f"unknown skeleton joints [{', '.join(bad_values)}]; valid: {', '.join(joint_names)}"
        )
    if errors:
        raise RetargetError(f"mapping file {path}: " + "; ".join(errors))
    return out


def resolve_mapping(
    joint_names: Sequence[str],
    parents: Sequence[int],
    preset: str | None = None,
    mapping_file: str | os.PathLike[str] | None = None,
    source: str = "<skeleton>",
) -> SkeletonMapping:
    """Map a skeleton onto :data:`CANONICAL_JOINTS` (precedence: module docstring).

    Args:
        joint_names: ``J`` source joint names (e.g. ``BvhSkeleton.joint_names``).
        parents: ``[J]`` parent index of each joint, ``-1`` for the root.
        preset: a name in :data:`PRESETS`; ``None`` auto-detects a preset and falls back to the
            matcher; ``"none"`` (or ``"matched"``) runs the matcher only.
        mapping_file: YAML ``canonical: source joint`` entries applied on top.
        source: the file name used in messages.

    Raises:
        RetargetError: unknown preset; a mapping file that cannot be read or names unknown
            joints; an essential canonical joint left unmapped (the message lists the unmatched
            canonical joints and the skeleton's joints).
    """
    joint_names = list(joint_names)
    if len(parents) != len(joint_names):
        raise RetargetError(f"{source}: {len(joint_names)} joint names but {len(parents)} parents")
    if any(not -1 <= int(p) < len(joint_names) or int(p) == j for j, p in enumerate(parents)):
        raise RetargetError(
            f"{source}: parent indices must be -1 or a joint index: {list(parents)}"
        )
    tree = _Tree(parents)

    if preset is None:
        used = _detect_preset(joint_names, tree) or "matched"
    elif preset in MATCHER_ONLY:
        used = "matched"
    elif preset in PRESETS:
        used = preset
    else:
        raise RetargetError(unknown_name("skeleton preset", preset, [*PRESETS, *MATCHER_ONLY]))
    found: dict[str, int] = (
        match_skeleton(joint_names, parents)
        if used == "matched"
        else _apply_preset(PRESETS[used], joint_names)
    )

    if mapping_file is not None:
        for c, j in _read_mapping_file(mapping_file, joint_names).items():
            if j is None:
                found.pop(c, None)
            else:
                found[c] = j
    found = {c: found[c] for c in CANONICAL_JOINTS if c in found}

    how = f"preset '{used}'" if used != "matched" else "the name/tree matcher"
    if mapping_file is not None:
        how += f" and mapping file {mapping_file}"
    missing = _missing_essential(found)
    if missing:
        raise RetargetError(
            f"{source}: cannot map canonical joints [{', '.join(missing)}] (using {how}); "
            f"skeleton joints: {', '.join(joint_names)}; "
            "pass --mapping FILE (YAML canonical: joint)"
        )
    for problem in _tree_problems(found, tree, joint_names):
        logger.warning("%s: skeleton mapping: %s", source, problem)
    unmapped = tuple(c for c in CANONICAL_JOINTS if c not in found)
    logger.info(
        "%s: skeleton mapped with %s%s",
        source,
        how,
        f"; unmapped optional joints: {', '.join(unmapped)}" if unmapped else "",
    )
    return SkeletonMapping(
        indices=MappingProxyType(found),
        names=MappingProxyType({c: joint_names[j] for c, j in found.items()}),
        preset=used,
        unmapped=unmapped,
        source=source,
        mapping_file=None if mapping_file is None else str(mapping_file),
    )
