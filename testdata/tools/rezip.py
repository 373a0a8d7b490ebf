#!/usr/bin/env python3
"""Rewrites an APK entry by entry, for hostile-fixture tests.

usage: rezip.py IN OUT [--replace NAME=FILE]... [--add NAME=FILE]... [--dup NAME]...
                       [--drop NAME]... [--store]

Entries keep their order and compression unless --store is given (then all are stored).
--add appends an entry whose name may be anything (e.g. ../evil or a name with CR/LF/NUL
written as \\r, \\n, \\0); --dup appends a second copy of NAME.
"""
import sys
import warnings
import zipfile

warnings.simplefilter("ignore")


def unescape(s):
    return s.replace("\\r", "\r").replace("\\n", "\n").replace("\\0", "\0")


def main(argv):
    src, dst, rest = argv[0], argv[1], argv[2:]
    replace, add, dup, drop, store = {}, [], [], set(), False
    i = 0
    while i < len(rest):
        flag = rest[i]
        if flag == "--store":
            store = True
            i += 1
            continue
        val = rest[i + 1]
        i += 2
        if flag == "--replace":
            name, path = val.split("=", 1)
            replace[name] = open(path, "rb").read()
        elif flag == "--add":
            name, path = val.split("=", 1)
            add.append((unescape(name), open(path, "rb").read()))
        elif flag == "--dup":
            dup.append(val)
        elif flag == "--drop":
            drop.add(val)
        else:
            raise SystemExit(f"unknown flag {flag}")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = replace.get(info.filename, zin.read(info))
            method = zipfile.ZIP_STORED if store else info.compress_type
            zout.writestr(zipfile.ZipInfo(info.filename, info.date_time), data, compress_type=method)
        for name in dup:
            zout.writestr(zipfile.ZipInfo(name), zin.read(name), compress_type=zipfile.ZIP_DEFLATED)
        for name, data in add:
            zi = zipfile.ZipInfo("placeholder")
            zi.filename = name
            zi.orig_filename = name
            zout.writestr(zi, data, compress_type=zipfile.ZIP_DEFLATED)


if __name__ == "__main__":
    main(sys.argv[1:])
