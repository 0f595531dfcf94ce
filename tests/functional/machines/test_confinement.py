"""Confinement of namespace machines: extracting an image (``tar``) cannot write outside the disk, and captured
images are private files in private folders."""

import io
import os
import stat
import tarfile

import pytest

from linode_emu.machines import MachineError, namespace


@pytest.fixture
def driver(tmp_path):
    return namespace.NamespaceDriver(tmp_path / "state", hide=[tmp_path / "lab"])


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def evil_archive(path, host):
    """An image whose members try to write through symlinks, '..' and absolute names into ``host``."""
    with tarfile.open(path, "w") as archive:
        for name, kind, link, data in (
            ("etc", tarfile.DIRTYPE, "", b""),
            ("etc/out", tarfile.SYMTYPE, str(host), b""),
            ("etc/out/through-absolute-link", tarfile.REGTYPE, "", b"pwned"),
            ("etc/up", tarfile.SYMTYPE, "../" * 20 + str(host).lstrip("/"), b""),
            ("etc/up/through-relative-link", tarfile.REGTYPE, "", b"pwned"),
            ("../" * 20 + str(host / "dot-dot").lstrip("/"), tarfile.REGTYPE, "", b"pwned"),
            (str(host / "absolute"), tarfile.REGTYPE, "", b"pwned"),
            ("etc/hardlink", tarfile.LNKTYPE, str(host / "victim"), b""),
        ):
            member = tarfile.TarInfo(name)
            member.type, member.linkname, member.size = kind, link, len(data)
            archive.addfile(member, io.BytesIO(data))


def test_an_image_cannot_write_through_symlinks_dot_dots_or_absolute_names(driver, tmp_path, monkeypatch):
    host = tmp_path / "host"
    host.mkdir()
    (host / "victim").write_text("original")
    monkeypatch.setenv("TAR_OPTIONS", "--absolute-names")  # the emulator's environment does not count
    archive = driver.image_file("private/9")
    evil_archive(archive, host)
    with pytest.raises(MachineError, match=r"tar -xpf \S+/9\.tar failed: "):
        driver.prepare_disk(1, "private/9")
    assert sorted(path.name for path in host.iterdir()) == ["victim"]
    assert (host / "victim").read_text() == "original"


def test_images_are_private_files_in_private_folders(driver, tmp_path):
    driver.prepare_disk(1, None)
    (driver.disk_dir(1) / "upper/etc").mkdir()
    (driver.disk_dir(1) / "upper/etc/app.conf").write_text("a=1")
    assert driver.capture(1, "private/2") == 1
    archive = driver.image_file("private/2")
    assert mode(archive) == 0o600
    for folder in ("disks", "images", "volumes", "machines", "disks/1"):
        assert mode(tmp_path / "state" / folder) == 0o700
    driver.prepare_disk(3, "private/2")
    assert (driver.disk_dir(3) / "upper/etc/app.conf").read_text() == "a=1"
