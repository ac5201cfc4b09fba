"""Test fakes: a fake adb server speaking the real adb host wire protocol, with simulated Android devices.

    from fakes import FakeAdbServer, FakeDevice

    with FakeAdbServer([FakeDevice("SIM001", root=tmp_path / "phone", app_installed=True)]) as server:
        adb = adbutils.AdbClient(host="127.0.0.1", port=server.port)
        adb.device("SIM001").shell(["getprop", "ro.product.model"])   # -> "Pixel 7"

No Android device or emulator is involved: every result the simulated devicelab app writes says
``simulated: true``. Modules:

- ``adb_server``: the socket server (host services, transports, ``shell:``/``shell,v2:``, ``sync:``).
- ``android_device``: ``FakeDevice``: properties, a file system rooted in a host folder, packages, logcat,
  behaviours that provoke failures (``crash_after``, ``hang``, ``unplug_after``, ``storage_free_bytes``...).
- ``shell``: a small POSIX-sh subset (quoting, ``;`` ``&&`` ``||`` ``|``, redirections, ``$?``, globs) and
  the toybox-like commands; ``android_commands``: ``getprop pm am dumpsys pidof logcat``.
- ``devicelab_app``: the stand-in for ``dev.devicelab.app``: runs job folders with ``devicelab.runner``.
"""

from . import android_commands  # noqa: F401 - registers getprop, pm, am, dumpsys, pidof, logcat
from .adb_server import FakeAdbServer
from .android_device import FakeDevice, make_fake_apk
from .devicelab_app import APP_PACKAGE, job_dir_on_device, result_dir_on_device

__all__ = ["APP_PACKAGE", "FakeAdbServer", "FakeDevice", "job_dir_on_device", "make_fake_apk",
           "result_dir_on_device"]
