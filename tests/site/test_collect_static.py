"""`manage.py serve` collects static files only when their sources changed: a restart does not hash and compress
every file again, and a changed file is served under its new name after the next one."""

import json

from runs.management.commands.serve import collect_static


def test_static_files_are_collected_once_and_again_after_a_source_changed(settings, tmp_path):
    source = tmp_path / "static"
    source.mkdir()
    (source / "app.js").write_text("let answer = 1;\n" * 100)  # big enough to be worth compressing
    settings.STATICFILES_DIRS = [source]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATIC_ROOT = tmp_path / "collected"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

    def served_name() -> str:
        return json.loads((tmp_path / "collected" / "staticfiles.json").read_text())["paths"]["app.js"]

    assert collect_static()
    first = served_name()
    assert (tmp_path / "collected" / f"{first}.gz").exists()

    assert not collect_static()
    assert served_name() == first

    (source / "app.js").write_text("let answer = 42;\n" * 100)
    assert collect_static()
    changed = served_name()
    assert changed != first
    assert (tmp_path / "collected" / changed).read_text() == "let answer = 42;\n" * 100

    (tmp_path / "collected" / "staticfiles.json").unlink()
    assert collect_static(), "a STATIC_ROOT emptied by hand is filled again"
    assert served_name() == changed
