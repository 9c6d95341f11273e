"""Where the repository keeps its shipped inputs (dictionary, configuration, dbt project, sample data)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
DICTIONARY_FILE = DATA_DIR / "dictionary" / "dictionary.yaml"
CONFIG_DIR = DATA_DIR / "config"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
