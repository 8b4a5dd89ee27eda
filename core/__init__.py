"""core: synthgap's ground floor. It imports nothing of the project; every other package may import it.

Floors (docs/design.md §0): core  <  render  <  align  <  benchmark  <  synthgap. A module may import only
from its own package or a lower floor; tests/test_architecture.py checks it.

Public API (import these, nothing else):
  core.errors    UserError
  core.io        atomic_write_text/_bytes/_json, read_json, load_yaml, file_fingerprint
  core.progress  Progress, track, fmt_duration, log
  core.raycluster start_ray, run_tasks (Ray for the render and benchmark backends; ray imported lazily)
  core.envs      repo_root, render_python, subprocess_env, cache_dir
  core.registry  Registry
  core.stats     mean_sd, fmt_num
  core.coco      load_coco, CocoSet, load_split, Split, resolve_category, resolve_categories, class_names
  core.markdown  to_html
  core.cli       run_cli
"""
