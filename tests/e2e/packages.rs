//! Hostile deployment packages are refused with a message saying why, and
//! leave no trace in the data directory nor anywhere outside it.

use rayo_tests::Server;

#[test]
fn hostile_zips_are_refused_without_a_trace() {
    let server = Server::start();
    server.python(
        r#"
        root = os.environ["RAYO_TEST_ROOT"]
        data = os.environ["RAYO_TEST_SERVER_DATA_DIR"]
        code_dirs = [os.path.join(data, "code", d) for d in ("zips", "unpacked", "tmp")]
        tag = uuid.uuid4().hex
        app = "def handler(event, context):\n    return 'good'\n"

        def symlink(archive, name, target):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)

        def zip_with(build):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("app.py", app)
                build(archive)
            return buffer.getvalue()

        def bomb(archive):
            # 300 MB of zeros, deflated to well under a megabyte, written in
            # chunks so that the test never holds it in memory.
            info = zipfile.ZipInfo("zeros.bin", date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            chunk = bytes(1024 * 1024)
            with archive.open(info, "w", force_zip64=True) as f:
                for _ in range(300):
                    f.write(chunk)

        absolute = os.path.join(root, f"absolute-{tag}")
        cases = [
            ("parent traversal", zip_with(lambda a: a.writestr(f"../evil-{tag}", "x")),
             ["outside the package root", f"../evil-{tag}"]),
            ("deep traversal", zip_with(lambda a: a.writestr(f"lib/../../../../../../evil-{tag}", "x")),
             ["outside the package root", f"evil-{tag}"]),
            ("absolute path", zip_with(lambda a: a.writestr(absolute, "x")),
             ["outside the package root", f"absolute-{tag}"]),
            ("link to an absolute target", zip_with(lambda a: symlink(a, "etc", "/etc")),
             ["link target leaves the package root", "etc"]),
            ("link climbing out", zip_with(lambda a: symlink(a, "up", f"../../../../../../outside-{tag}")),
             ["link target leaves the package root", "up"]),
            ("write through a link", zip_with(lambda a: (symlink(a, "out", root), a.writestr(f"out/through-{tag}", "x"))),
             ["out"]),
            ("zip bomb", zip_with(bomb), ["Unzipped size must be smaller than 262144000 bytes"]),
            ("garbage", os.urandom(4096), ["Could not unzip uploaded file"]),
            ("truncated zip", make_zip({"app.py": app})[:-30], ["Could not unzip uploaded file"]),
        ]
        bomb_size = len(cases[6][1])
        assert bomb_size < 1024 * 1024, bomb_size

        create("victim", {"app.py": app})
        victim_sha = lam.get_function(FunctionName="victim")["Configuration"]["CodeSha256"]
        assert all(os.path.isdir(d) for d in code_dirs), os.listdir(os.path.join(data, "code"))
        before = {d: files_under(d) for d in code_dirs}
        assert before[code_dirs[2]] == [], before

        for what, package, fragments in cases:
            message = expect_error("InvalidParameterValueException", 400, create, "hostile", package)
            for fragment in fragments:
                assert fragment in message, (what, fragment, message)
            message = expect_error("InvalidParameterValueException", 400, lam.update_function_code,
                                   FunctionName="victim", ZipFile=package)
            for fragment in fragments:
                assert fragment in message, (what, fragment, message)
            after = {d: files_under(d) for d in code_dirs}
            assert after == before, (what, before, after)
            assert server_healthy()

        # Nothing landed outside the data directory either.
        leaked = [p for p in files_under(root) if tag in p]
        assert leaked == [], leaked
        assert not os.path.lexists(absolute)
        assert not os.path.lexists(f"/evil-{tag}")

        names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        assert names == ["victim"], names
        configuration = lam.get_function_configuration(FunctionName="victim")
        assert configuration["CodeSha256"] == victim_sha
        assert invoke("victim").ok() == "good"
        "#,
    );
}

#[test]
fn a_bomb_whose_header_lies_about_its_size_is_refused() {
    let server = Server::start();
    server.python(
        r#"
        import struct
        data = os.environ["RAYO_TEST_SERVER_DATA_DIR"]
        code_dirs = [os.path.join(data, "code", d) for d in ("zips", "unpacked", "tmp")]

        # 300 MB of zeros whose headers claim 1 KB: the limit must hold on
        # the bytes actually inflated, not on what the archive declares.
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("app.py", "def handler(e, c):\n    return 1\n")
            info = zipfile.ZipInfo("zeros.bin", date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            chunk = bytes(1024 * 1024)
            with archive.open(info, "w") as f:
                for _ in range(300):
                    f.write(chunk)
        package = bytearray(buffer.getvalue())
        real = struct.pack("<I", 300 * 1024 * 1024)
        claimed = struct.pack("<I", 1024)
        n_patched = 0
        for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            start = 0
            while True:
                at = package.find(signature, start)
                if at < 0:
                    break
                if package[at + offset:at + offset + 4] == real:
                    package[at + offset:at + offset + 4] = claimed
                    n_patched += 1
                start = at + 4
        assert n_patched == 2, n_patched

        before = {d: files_under(d) for d in code_dirs}
        message = expect_error("InvalidParameterValueException", 400, create, "liar", bytes(package))
        # Refused either for inflating past the limit or for inflating past
        # the declared size, before anything is kept.
        assert "262144000" in message or "larger than its declared" in message, message
        assert {d: files_under(d) for d in code_dirs} == before
        assert server_healthy()
        assert lam.list_functions()["Functions"] == []
        "#,
    );
}
