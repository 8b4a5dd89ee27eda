"""The scene camera (render environment only: called by render/scene.py inside BlenderProc; `bproc` is passed in,
as in render/scene_assets.py, so this file imports nothing heavy).

`aim`: distance / elevation / azimuth drawn from camera.* around the annotated objects' centre (world bounding
boxes), looking at it; with framing (camera.target_u / target_v / roll_deg) the camera is then turned so that centre
lands at image point (u, v), rolled (`framed_rotation`, its own generator: configs without framing keep every
other draw). The pose is added to the scene.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from render import scene_assets

FRAMING_SALT = 0xF4A3


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector a to unit vector b (Rodrigues; a and b not opposite)."""
    v, c = np.cross(a, b), float(np.dot(a, b))
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def framed_rotation(bproc, rot0: np.ndarray, cfg, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Turn a camera aimed at the objects' centre so that centre lands at image point (u, v) (fractions of the
    frame, drawn from camera.target_u / target_v), rolled by camera.roll_deg: R = R0 Rz(roll) Q^T, where Q takes
    the optical axis (0, 0, -1) to the ray through (u, v) in camera coordinates (x right, y up, looking down -z),
    so R maps that ray onto the direction R0 aimed at."""
    rng = np.random.default_rng([int(seed) % (2 ** 63), FRAMING_SALT])
    u, v = float(rng.uniform(*cfg.camera.target_u)), float(rng.uniform(*cfg.camera.target_v))
    roll = float(rng.uniform(*cfg.camera.roll_deg))
    K = np.asarray(bproc.camera.get_intrinsics_as_K_matrix(), dtype=float)
    w, h = cfg.resolution
    ray = np.array([(u * w - K[0, 2]) / K[0, 0], -(v * h - K[1, 2]) / K[1, 1], -1.0])
    q = rotation_between(np.array([0.0, 0.0, -1.0]), ray / np.linalg.norm(ray))
    r = math.radians(roll)
    rz = np.array([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0], [0.0, 0.0, 1.0]])
    return rot0 @ rz @ q.T, {"camera_target_uv": [round(u, 4), round(v, 4)], "camera_roll_deg": round(roll, 3)}


def aim(bproc, cfg, annotated_objs: list[list], rng: np.random.Generator, seed: int) -> tuple[np.ndarray, np.ndarray,
                                                                                             dict[str, Any]]:
    """-> (camera location, point of interest, {"pose": sidecar camera values, "framing": sidecar framing values})."""
    centres = [np.mean(scene_assets.object_bounds(o), axis=0) for objs in annotated_objs for o in objs]
    poi = np.mean(centres, axis=0)
    dist = float(rng.uniform(*cfg.camera.distance))
    el = float(rng.uniform(*cfg.camera.elevation_deg))
    az = float(rng.uniform(*cfg.camera.azimuth_deg))
    e, a = math.radians(el), math.radians(az)
    cam = poi + dist * np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
    rot = bproc.camera.rotation_from_forward_vec(poi - cam)
    framing = {}
    if cfg.camera.framed:
        rot, framing = framed_rotation(bproc, np.asarray(rot), cfg, seed)
    bproc.camera.add_camera_pose(bproc.math.build_transformation_mat(cam, rot))
    return cam, poi, {"pose": {"camera_distance": dist, "camera_elevation_deg": el, "camera_azimuth_deg": az},
                      "framing": framing}
