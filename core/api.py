"""core's public API (the ground floor; it imports nothing of the project). docs/design.md §0, §8."""
from core.cli import parse_seeds, run_cli
from core.coco import CocoSet, Split, load_coco, load_split, resolve_categories, resolve_category
from core.split import apportion
from core.envs import cache_dir, render_python, repo_root, subprocess_env
from core.errors import UserError
from core.io import atomic_write_bytes, atomic_write_json, atomic_write_text, file_fingerprint, load_yaml, read_json
from core.markdown import to_html
from core.progress import Progress, fmt_duration, log, track
from core.raycluster import run_tasks, start_ray
from core.registry import Registry
from core.params import merge as merge_params
from core.params import add_registry_args, check_registry, flag_name, registry_args
from core.stats import fmt_mean_sd, fmt_num, mean_sd

from core.real_source import resolve_args, resolve_real
from core.stats import spearman_perm
from core.io import content_fingerprint, file_sha, check_not_input, check_out_dir, supersede, timed
from core.coco import check_decodes, damaged_image, write_subset_dir, merge_dirs

__all__ = ["run_cli", "parse_seeds", "CocoSet", "Split", "load_coco", "load_split", "resolve_category", "resolve_categories", "apportion", "cache_dir", "render_python",
           "repo_root", "subprocess_env", "UserError", "atomic_write_bytes", "atomic_write_json", "atomic_write_text",
           "file_fingerprint", "load_yaml", "read_json", "to_html", "Progress", "fmt_duration", "log", "track",
           "run_tasks", "start_ray", "Registry", "fmt_mean_sd", "fmt_num", "mean_sd", "resolve_args", "resolve_real",
           "spearman_perm", "content_fingerprint", "file_sha", "check_not_input", "check_out_dir", "supersede", "timed",
           "check_decodes", "damaged_image", "write_subset_dir", "merge_dirs", "merge_params",
           "add_registry_args", "check_registry", "flag_name", "registry_args"]
