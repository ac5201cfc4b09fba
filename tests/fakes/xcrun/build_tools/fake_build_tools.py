"""Fake `xcodegen`, `pod` and `xcodebuild` for tests of `devicelab ios install --build` (no Xcode here).

Each appends its argv to ``$FAKE_BUILD_LOG`` and does, in the current folder, what the real tool leaves behind that
the next step or devicelab looks at: ``xcodegen generate`` writes DeviceLab.xcodeproj; ``pod install`` needs the
Podfile and that project and writes DeviceLab.xcworkspace and Pods/; ``xcodebuild ... build`` needs the project or
workspace it is given and writes ``<derivedDataPath>/Build/Products/<config>/DeviceLab.app`` (with the
TensorFlowLite framework only when built from the CocoaPods workspace). Error texts are the real tools' ones.
"""

from __future__ import annotations

import json
import os
import plistlib
import sys
from pathlib import Path


def main(tool: str, args: list[str]) -> int:
    log = os.environ.get("FAKE_BUILD_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps([tool, *args]) + "\n")
    here = Path.cwd()
    if tool == "xcodegen":
        if not (here / "project.yml").is_file():
            sys.stderr.write(f"No project spec found at {here / 'project.yml'}\n")
            return 1
        (here / "DeviceLab.xcodeproj").mkdir(exist_ok=True)
        (here / "DeviceLab.xcodeproj" / "project.pbxproj").write_text("// fake\n")
        print("⚙️  Generating plists...\n⚙️  Generating project...\n⚙️  Writing project...\nCreated project at "
              f"{here / 'DeviceLab.xcodeproj'}")
        return 0
    if tool == "pod":
        if not (here / "Podfile").is_file():
            sys.stderr.write("[!] No `Podfile' found in the project directory.\n")
            return 1
        if not (here / "DeviceLab.xcodeproj").is_dir():
            sys.stderr.write(f"[!] Unable to find the Xcode project `{here / 'DeviceLab.xcodeproj'}` for the target "
                             "`DeviceLab`.\n")
            return 1
        (here / "Pods" / "TensorFlowLiteSwift").mkdir(parents=True, exist_ok=True)
        (here / "DeviceLab.xcworkspace").mkdir(exist_ok=True)
        print("Analyzing dependencies\nDownloading dependencies\nInstalling TensorFlowLiteC (2.14.0)\n"
              "Installing TensorFlowLiteSwift (2.14.0)\nGenerating Pods project\nIntegrating client project\n"
              "Pod installation complete! There is 1 dependency from the Podfile and 2 total pods installed.")
        return 0
    if tool == "xcodebuild":
        opts = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("-")}
        container = opts.get("-workspace") or opts.get("-project")
        if not container or not (here / container).exists():
            sys.stderr.write(f"xcodebuild: error: '{container}' does not exist.\n")
            return 66
        config = "Debug-iphonesimulator" if "Simulator" in opts.get("-destination", "") else "Debug-iphoneos"
        app = here / opts.get("-derivedDataPath", "build") / "Build/Products" / config / "DeviceLab.app"
        app.mkdir(parents=True, exist_ok=True)
        (app / "Info.plist").write_bytes(plistlib.dumps({"CFBundleIdentifier": "dev.devicelab.DeviceLab",
                                                         "CFBundleExecutable": "DeviceLab"}))
        if "-workspace" in opts:
            (app / "Frameworks" / "TensorFlowLite.framework").mkdir(parents=True, exist_ok=True)
        print("** BUILD SUCCEEDED **")
        return 0
    return 127


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).name, sys.argv[2:]))
