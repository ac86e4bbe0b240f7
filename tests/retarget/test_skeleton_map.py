"""Tests of the skeleton mapping (humimic.retarget.skeleton_map): presets on the real CMU and
DeepMimic skeletons in ../shared/data, the name/tree matcher alone, hand-written LAFAN1, Mixamo
and Unreal-style skeletons, mapping files, and the error messages."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from shared_paths import SHARED_DATA

from humimic.errors import RetargetError
from humimic.retarget.bvh import parse_bvh
from humimic.retarget.skeleton_map import (
    CANONICAL_JOINTS,
    CANONICAL_PARENTS,
    ESSENTIAL,
    PRESETS,
    classify_joint_name,
    resolve_mapping,
)

DATA = SHARED_DATA


def _tree(pairs: list[tuple[str, str | None]]) -> tuple[list[str], list[int]]:
    """``(name, parent name)`` pairs, parents first → joint names and parent indices."""
    names = [n for n, _ in pairs]
    return names, [-1 if p is None else names.index(p) for _, p in pairs]


def _sided(side: str, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(n.format(s=side), p.format(s=side)) for n, p in pairs]


# CMU (Hahne BVH): hand-checked against the HIERARCHY of cmu_08_09_walk.bvh.
CMU_EXPECTED = {
    "pelvis": "Hips",
    "spine": "LowerBack",
    "chest": "Spine1",
    "neck": "Neck",
    "head": "Head",
    "left_hip": "LeftUpLeg",
    "left_knee": "LeftLeg",
    "left_ankle": "LeftFoot",
    "left_toe": "LeftToeBase",
    "right_hip": "RightUpLeg",
    "right_knee": "RightLeg",
    "right_ankle": "RightFoot",
    "right_toe": "RightToeBase",
    "left_shoulder": "LeftArm",
    "left_elbow": "LeftForeArm",
    "left_wrist": "LeftHand",
    "right_shoulder": "RightArm",
    "right_elbow": "RightForeArm",
    "right_wrist": "RightHand",
}

# Ubisoft LAFAN1 BVH hierarchy (22 joints).
LAFAN1_PAIRS = [
    ("Hips", None),
    *[
        p
        for s in ("Left", "Right")
        for p in _sided(
            s,
            [
                ("{s}UpLeg", "Hips"),
                ("{s}Leg", "{s}UpLeg"),
                ("{s}Foot", "{s}Leg"),
                ("{s}Toe", "{s}Foot"),
            ],
        )
    ],
    ("Spine", "Hips"),
    ("Spine1", "Spine"),
    ("Spine2", "Spine1"),
    ("Neck", "Spine2"),
    ("Head", "Neck"),
    *[
        p
        for s in ("Left", "Right")
        for p in _sided(
            s,
            [
                ("{s}Shoulder", "Spine2"),
                ("{s}Arm", "{s}Shoulder"),
                ("{s}ForeArm", "{s}Arm"),
                ("{s}Hand", "{s}ForeArm"),
            ],
        )
    ],
]
LAFAN1_EXPECTED = {
    **{c: n for c, n in CMU_EXPECTED.items() if c not in ("spine", "chest")},
    "spine": "Spine",
    "chest": "Spine2",
    "left_toe": "LeftToe",
    "right_toe": "RightToe",
}


def _mixamo_pairs(ns: str) -> list[tuple[str, str | None]]:
    """A Mixamo rig with fingers and end sites, names prefixed by ``ns``."""
    pairs: list[tuple[str, str | None]] = [
        ("Hips", None),
        ("Spine", "Hips"),
        ("Spine1", "Spine"),
        ("Spine2", "Spine1"),
        ("Neck", "Spine2"),
        ("Head", "Neck"),
        ("HeadTop_End", "Head"),
    ]
    for s in ("Left", "Right"):
        pairs += _sided(
            s,
            [
                ("{s}Shoulder", "Spine2"),
                ("{s}Arm", "{s}Shoulder"),
                ("{s}ForeArm", "{s}Arm"),
                ("{s}Hand", "{s}ForeArm"),
                ("{s}HandThumb1", "{s}Hand"),
                ("{s}HandIndex1", "{s}Hand"),
                ("{s}HandIndex2", "{s}HandIndex1"),
            ],
        )
    for s in ("Left", "Right"):
        pairs += _sided(
            s,
            [
                ("{s}UpLeg", "Hips"),
                ("{s}Leg", "{s}UpLeg"),
                ("{s}Foot", "{s}Leg"),
                ("{s}ToeBase", "{s}Foot"),
                ("{s}Toe_End", "{s}ToeBase"),
            ],
        )
    return [(ns + n, None if p is None else ns + p) for n, p in pairs]


MIXAMO_EXPECTED = {**LAFAN1_EXPECTED, "left_toe": "LeftToeBase", "right_toe": "RightToeBase"}

# Unreal-style mannequin: no preset knows these names.
UNREAL_PAIRS: list[tuple[str, str | None]] = [
    ("root", None),
    ("pelvis_jnt", "root"),
    ("spine_01", "pelvis_jnt"),
    ("spine_02", "spine_01"),
    ("spine_03", "spine_02"),
    ("neck_01", "spine_03"),
    ("head", "neck_01"),
]
for _s in ("l", "r"):
    UNREAL_PAIRS += _sided(
        _s,
        [
            ("clavicle_{s}", "spine_03"),
            ("upperarm_{s}", "clavicle_{s}"),
            ("upperarm_twist_01_{s}", "upperarm_{s}"),
            ("lowerarm_{s}", "upperarm_{s}"),
            ("lowerarm_twist_01_{s}", "lowerarm_{s}"),
            ("hand_{s}", "lowerarm_{s}"),
            ("thumb_01_{s}", "hand_{s}"),
            ("thigh_{s}", "pelvis_jnt"),
            ("thigh_twist_01_{s}", "thigh_{s}"),
            ("calf_{s}", "thigh_{s}"),
            ("foot_{s}", "calf_{s}"),
            ("ball_{s}", "foot_{s}"),
        ],
    )
UNREAL_EXPECTED = {
    "pelvis": "pelvis_jnt",
    "spine": "spine_01",
    "chest": "spine_03",
    "neck": "neck_01",
    "head": "head",
    **{
        f"{side}_{part}": f"{name}_{side[0]}"
        for side in ("left", "right")
        for part, name in (
            ("hip", "thigh"),
            ("knee", "calf"),
            ("ankle", "foot"),
            ("toe", "ball"),
            ("shoulder", "upperarm"),
            ("elbow", "lowerarm"),
            ("wrist", "hand"),
        )
    },
}


@pytest.fixture(scope="module")
def cmu() -> tuple[list[str], list[int]]:
    skeleton = parse_bvh(DATA / "mocap" / "cmu_08_09_walk.bvh").skeleton
    return list(skeleton.joint_names), [int(p) for p in skeleton.parents]


# --- the canonical skeleton and presets ---------------------------------------------------------


def test_canonical_skeleton_is_a_tree_rooted_at_the_pelvis() -> None:
    assert len(CANONICAL_JOINTS) == 19 == len(set(CANONICAL_JOINTS))
    assert set(CANONICAL_PARENTS) == set(CANONICAL_JOINTS)
    for joint in CANONICAL_JOINTS:
        chain, p = [joint], CANONICAL_PARENTS[joint]
        while p is not None:
            assert p not in chain, f"cycle through {p}"
            chain.append(p)
            p = CANONICAL_PARENTS[p]
        assert chain[-1] == "pelvis"
    assert CANONICAL_PARENTS["left_elbow"] == "left_shoulder"
    assert CANONICAL_PARENTS["right_ankle"] == "right_knee"
    assert set(ESSENTIAL) <= set(CANONICAL_JOINTS)


def test_presets_only_name_canonical_joints() -> None:
    for name, preset in PRESETS.items():
        assert set(preset) <= set(CANONICAL_JOINTS), name
        assert set(ESSENTIAL) <= set(preset), name


# --- real data -----------------------------------------------------------------------------------


def test_cmu_bvh_auto_detects_cmu_preset(cmu: tuple[list[str], list[int]]) -> None:
    names, parents = cmu
    mapping = resolve_mapping(names, parents, source="cmu_08_09_walk.bvh")
    assert mapping.preset == "cmu"
    assert dict(mapping.names) == CMU_EXPECTED
    assert mapping.unmapped == ()
    # indices and names agree
    assert all(names[mapping.indices[c]] == n for c, n in mapping.names.items())
    assert mapping.index("left_knee") == names.index("LeftLeg") == 3


def test_matcher_alone_reproduces_cmu_preset(cmu: tuple[list[str], list[int]]) -> None:
    names, parents = cmu
    matched = resolve_mapping(names, parents, preset="none")
    assert matched.preset == "matched"
    assert dict(matched.names) == CMU_EXPECTED


def test_deepmimic_character_auto_detects_and_matches() -> None:
    character = json.loads((DATA / "deepmimic" / "humanoid3d.txt").read_text())
    joints = character["Skeleton"]["Joints"]
    names, parents = [j["Name"] for j in joints], [int(j["Parent"]) for j in joints]
    expected = {
        "pelvis": "root",
        "chest": "chest",
        "neck": "neck",
        **{
            f"{s}_{p}": f"{s}_{p}"
            for s in ("left", "right")
            for p in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")
        },
    }
    for preset, used in ((None, "deepmimic"), ("none", "matched")):
        mapping = resolve_mapping(names, parents, preset=preset)
        assert mapping.preset == used
        assert dict(mapping.names) == expected
        assert mapping.unmapped == ("spine", "head", "left_toe", "right_toe")


# --- hand-written skeletons ----------------------------------------------------------------------


def test_lafan1_auto_detected_not_mistaken_for_cmu() -> None:
    # LAFAN1 has CMU's limb names; only the spine and toes tell them apart.
    names, parents = _tree(LAFAN1_PAIRS)
    mapping = resolve_mapping(names, parents)
    assert mapping.preset == "lafan1"
    assert dict(mapping.names) == LAFAN1_EXPECTED
    assert dict(resolve_mapping(names, parents, preset="none").names) == LAFAN1_EXPECTED


@pytest.mark.parametrize("ns", ["mixamorig:", "mixamorig1:", "Character:"])
def test_mixamo_with_any_namespace(ns: str) -> None:
    names, parents = _tree(_mixamo_pairs(ns))
    mapping = resolve_mapping(names, parents)
    assert mapping.preset == "mixamo"
    assert dict(mapping.names) == {c: ns + n for c, n in MIXAMO_EXPECTED.items()}
    matched = resolve_mapping(names, parents, preset="none")
    assert dict(matched.names) == dict(mapping.names)


def test_unreal_style_names_go_to_the_matcher() -> None:
    names, parents = _tree(UNREAL_PAIRS)
    mapping = resolve_mapping(names, parents)
    assert mapping.preset == "matched"
    # pelvis is the hips' common ancestor (not "root"); the shoulder is upperarm (the elbow's
    # parent), not the clavicle; twist joints are ignored.
    assert dict(mapping.names) == UNREAL_EXPECTED
    assert mapping.unmapped == ()


def test_named_preset_is_used_as_given(cmu: tuple[list[str], list[int]]) -> None:
    names, parents = cmu
    # LAFAN1 names on the CMU skeleton: the limbs exist, Spine2/LeftToe do not.
    mapping = resolve_mapping(names, parents, preset="lafan1")
    assert mapping.preset == "lafan1"
    assert mapping.names["spine"] == "Spine"
    assert mapping.unmapped == ("chest", "left_toe", "right_toe")


@pytest.mark.parametrize(
    ("name", "side", "part"),
    [
        ("LowerBack", None, "spine"),
        ("lowerback", None, "spine"),
        ("LHipJoint", "left", "hip"),
        ("RHipJoint", "right", "hip"),
        ("LeftUpLeg", "left", "hip"),
        ("RightLeg", "right", "knee"),
        ("LeftShoulder", "left", "clavicle"),
        ("LeftArm", "left", "upperarm"),
        ("mixamorig:RightForeArm", "right", "elbow"),
        ("LeftHandIndex1", "left", None),
        ("LThumb", "left", None),
        ("Hips", None, "pelvis"),
        ("Neck1", None, "neck"),
        ("thigh_l", "left", "hip"),
        ("calf_r", "right", "knee"),
        ("ball_l", "left", "toe"),
        ("Bip01 L Thigh", "left", "hip"),
        ("Bip01 R Forearm", "right", "elbow"),
        ("lknee", "left", "knee"),
        ("r_wrist", "right", "wrist"),
        ("HeadTop_End", None, None),
        ("root", None, "pelvis"),
    ],
)
def test_classify_joint_name(name: str, side: str | None, part: str | None) -> None:
    assert classify_joint_name(name) == (side, part)


# --- mapping files -------------------------------------------------------------------------------


def test_mapping_file_overrides_preset(cmu: tuple[list[str], list[int]], tmp_path: Path) -> None:
    names, parents = cmu
    path = tmp_path / "map.yaml"
    path.write_text("neck: Neck1\nchest: Spine\nleft_toe: null\n")
    mapping = resolve_mapping(names, parents, mapping_file=path)
    assert mapping.preset == "cmu"
    assert mapping.mapping_file == str(path)
    assert mapping.names["neck"] == "Neck1"
    assert mapping.names["chest"] == "Spine"
    assert "left_toe" not in mapping.names
    assert mapping.unmapped == ("left_toe",)
    assert mapping.names["left_knee"] == "LeftLeg"  # untouched entries stay


def test_mapping_file_fills_what_nothing_else_finds(tmp_path: Path) -> None:
    # knees named "bend_*": no synonym, so only the file can map them
    pairs = [(n.replace("calf", "bend"), p and p.replace("calf", "bend")) for n, p in UNREAL_PAIRS]
    names, parents = _tree(pairs)
    with pytest.raises(RetargetError, match=r"left_knee.*right_knee"):
        resolve_mapping(names, parents)
    path = tmp_path / "map.yaml"
    path.write_text("left_knee: bend_l\nright_knee: bend_r\n")
    mapping = resolve_mapping(names, parents, mapping_file=path)
    assert mapping.names["left_knee"] == "bend_l"
    assert mapping.names["left_ankle"] == "foot_l"


def test_mapping_file_with_unknown_names_lists_valid_ones(
    cmu: tuple[list[str], list[int]], tmp_path: Path
) -> None:
    names, parents = cmu
    path = tmp_path / "map.yaml"
    path.write_text("left_knee: LeftKnee\nelbow_l: LeftForeArm\n")
    with pytest.raises(RetargetError) as err:
        resolve_mapping(names, parents, mapping_file=path)
    msg = str(err.value)
    assert str(path) in msg
    assert "unknown canonical joints ['elbow_l']" in msg
    assert "valid: " + ", ".join(CANONICAL_JOINTS) in msg
    assert "unknown skeleton joints [left_knee: 'LeftKnee']" in msg
    assert "valid: " + ", ".join(names) in msg


def test_mapping_file_must_be_a_mapping(cmu: tuple[list[str], list[int]], tmp_path: Path) -> None:
    names, parents = cmu
    path = tmp_path / "map.yaml"
    path.write_text("- Hips\n- LeftLeg\n")
    with pytest.raises(RetargetError, match="expected a YAML mapping"):
        resolve_mapping(names, parents, mapping_file=path)
    with pytest.raises(RetargetError, match="cannot read"):
        resolve_mapping(names, parents, mapping_file=tmp_path / "missing.yaml")


# --- errors --------------------------------------------------------------------------------------


def test_missing_knees_lists_unmatched_and_skeleton_joints(
    cmu: tuple[list[str], list[int]],
) -> None:
    names, parents = cmu
    # drop LeftLeg and RightLeg: the feet hang straight off the up-legs
    pairs = [(n, None if p < 0 else names[p]) for n, p in zip(names, parents, strict=True)]
    pairs = [(n, {"LeftLeg": "LeftUpLeg", "RightLeg": "RightUpLeg"}.get(p, p)) for n, p in pairs]
    pairs = [(n, p) for n, p in pairs if n not in ("LeftLeg", "RightLeg")]
    kneeless, kneeless_parents = _tree(pairs)
    for preset in (None, "none", "cmu"):
        with pytest.raises(RetargetError) as err:
            resolve_mapping(kneeless, kneeless_parents, preset=preset, source="walk.bvh")
        msg = str(err.value)
        assert msg.startswith("walk.bvh: cannot map canonical joints [left_knee, right_knee]")
        assert "skeleton joints: " + ", ".join(kneeless) in msg
        assert "--mapping FILE" in msg


def test_head_or_neck_is_essential() -> None:
    names, parents = _tree([(n, p) for n, p in UNREAL_PAIRS if n not in ("neck_01", "head")])
    with pytest.raises(RetargetError, match=r"cannot map canonical joints \[neck, head\]"):
        resolve_mapping(names, parents)
    names, parents = _tree([(n, p) for n, p in UNREAL_PAIRS if n != "head"])
    assert resolve_mapping(names, parents).unmapped == ("head",)


def test_unknown_preset_and_bad_parents(cmu: tuple[list[str], list[int]]) -> None:
    names, parents = cmu
    with pytest.raises(RetargetError, match=r"unknown skeleton preset 'cmu2'; valid: .*lafan1"):
        resolve_mapping(names, parents, preset="cmu2")
    with pytest.raises(RetargetError, match="31 joint names but 30 parents"):
        resolve_mapping(names, parents[:-1])
    with pytest.raises(RetargetError, match="canonical joint 'knee'"):
        resolve_mapping(names, parents).index("knee")


def test_inconsistent_mapping_file_warns(
    cmu: tuple[list[str], list[int]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    names, parents = cmu
    path = tmp_path / "map.yaml"
    path.write_text("left_knee: RightLeg\n")  # not below left_hip = LeftUpLeg
    with caplog.at_level(logging.WARNING, logger="humimic.retarget.skeleton_map"):
        resolve_mapping(names, parents, mapping_file=path)
    assert "left_knee=RightLeg is not below left_hip=LeftUpLeg" in caplog.text
