# Jupyter server config for `make lab` / `make app` (passed with --config): notebooks are saved without outputs.
# Why: JupyterLab autosaves while the explorer runs, which would write widget state and figures into the tracked
# notebooks (tests/experiments/test_notebooks.py requires them clean). The outputs stay visible in the open tab.


def _strip_outputs(model, **kwargs):
    if model.get("type") != "notebook" or model.get("content") is None:
        return
    for cell in model["content"].get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    model["content"].get("metadata", {}).pop("widgets", None)


c = get_config()  # noqa: F821 (provided by the Jupyter config loader)
c.FileContentsManager.pre_save_hook = _strip_outputs
