#!/usr/bin/env bash
# The kernel matrix: runs the oracle checks (scripts/kernel-matrix/checks.txt,
# compiled integration tests) with both hook kinds (tp_btf, forced raw_tp) on
# every kernel listed in scripts/kernel-matrix/kernels.txt, each booted under
# QEMU (software emulation) from a small initramfs, and on the host's own
# kernel. Prints one table, kernel x architecture x tool x hook kind, and
# exits non-zero if any cell fails. arm64 kernels (PKG:arm64) run the tools
# and tests cross-built for aarch64, on Debian's arm64 userland.
#
# Usage: scripts/kernel-matrix.sh [--kernel PKG]... [--tool TOOL]...
#                                  [--hook tp_btf|raw_tp]... [--no-host] [--ci]
# --ci: a kernel whose kernels.txt line says ci=HOOK runs that hook kind
# only (CI's time budget); without it, every kernel runs every hook kind.
# Kernel packages are downloaded with apt-get (never installed) and kept in
# $KERNEL_MATRIX_CACHE (default /var/cache/ebpf-toolkit/kernels).
set -euo pipefail
cd "$(dirname "$0")/.."
here=scripts/kernel-matrix
cache=${KERNEL_MATRIX_CACHE:-/var/cache/ebpf-toolkit/kernels}
# Per guest boot: boot plus every check with both hook kinds, under emulation
# (about 2.5 minutes here; a guest that hangs, a kernel lockup say, is cut).
guest_timeout=${KERNEL_MATRIX_TIMEOUT:-600}

log() { printf 'kernel-matrix: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

kernels=() tools=() hooks=() host=1 ci=0
while [ $# -gt 0 ]; do
    case $1 in
    --kernel) kernels+=("$2"); shift 2 ;;
    --tool) tools+=("$2"); shift 2 ;;
    --hook) hooks+=("$2"); shift 2 ;;
    --no-host) host=0; shift ;;
    --ci) ci=1; shift ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ ${#kernels[@]} -gt 0 ] || mapfile -t kernels < <(sed 's/#.*//' "$here/kernels.txt" | awk 'NF { print $1 }')
[ ${#hooks[@]} -gt 0 ] || hooks=(tp_btf raw_tp)
for hook in "${hooks[@]}"; do
    case $hook in tp_btf | raw_tp) ;; *) die "unknown hook kind '$hook'" ;; esac
done
# The hook kinds kernel package PKG runs: all of them, or with --ci those
# its kernels.txt line names (ci=HOOK,...), where they were asked for.
hooks_of_package() {
    local only hook
    only=$(sed 's/#.*//' "$here/kernels.txt" | awk -v p="$1" '$1 == p { for (i = 2; i <= NF; i++) if ($i ~ /^ci=/) print substr($i, 4) }')
    for hook in "${hooks[@]}"; do
        if [ $ci = 0 ] || [ -z "$only" ] || [[ ",$only," == *",$hook,"* ]]; then echo "$hook"; fi
    done
}
[ ${#tools[@]} -gt 0 ] || mapfile -t tools < <(awk '!/^#/ && NF { print $1 }' "$here/checks.txt" | awk '!seen[$0]++')
for tool in "${tools[@]}"; do
    grep -qx "$tool" tools.txt || die "unknown tool '$tool'"
done
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing: run scripts/setup.sh"
# The architecture of each kernel package: PKG:arm64 is arm64's.
arch_of_package() { case $1 in *:arm64) echo aarch64 ;; *) echo x86_64 ;; esac; }
arches=()
for package in "${kernels[@]}"; do arches+=("$(arch_of_package "$package")"); done
if [[ " ${arches[*]} " == *" aarch64 "* ]]; then
    command -v qemu-system-aarch64 >/dev/null || die "qemu-system-aarch64 is missing: run scripts/setup.sh"
    command -v aarch64-linux-gnu-gcc >/dev/null || die "aarch64-linux-gnu-gcc is missing: run scripts/setup.sh"
fi
[ -x /usr/bin/busybox ] || die "busybox is missing: run scripts/setup.sh"

work=$(mktemp -d /tmp/kernel-matrix.XXXXXX)
# KERNEL_MATRIX_KEEP=1 keeps the initramfs and console logs for debugging.
[ -n "${KERNEL_MATRIX_KEEP:-}" ] && log "keeping $work" || trap 'rm -rf "$work"' EXIT

# test_bin[ARCH|target name] -> executable.
declare -A test_bin
# Builds the tools and the test binaries for ARCH (x86_64 natively; aarch64
# cross-built with the nightly toolchain, which builds std for it: the
# command docs/kernels.md gives). The aarch64 tests abort on panic, as the
# tools do (the release profile's), so that both share one build of std:
# two, one unwinding, in one target directory do not link.
build_for() { # arch
    local arch=$1 cargo=(cargo) cargo_target=() test_only=() name path
    log "building the tools and the test binaries for $arch"
    if [ "$arch" = aarch64 ]; then
        cargo=(cargo +nightly) # the linker: .cargo/config.toml
        cargo_target=(--target aarch64-unknown-linux-gnu -Z build-std=std,panic_abort,test)
        test_only=(-Z panic-abort-tests)
    fi
    "${cargo[@]}" build --release --locked --quiet "${cargo_target[@]}"
    # To a file first: a test target that does not build fails the run here.
    "${cargo[@]}" test --release --locked --no-run --message-format=json "${cargo_target[@]}" "${test_only[@]}" \
        >"$work/tests-$arch.json" 2>"$work/tests-$arch.err" ||
        { cat "$work/tests-$arch.err" >&2; die "the test binaries do not build for $arch"; }
    while read -r name path; do
        test_bin[$arch|$name]=$path
    done < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        kind = m["target"]["kind"][0]
        # tests/<name>.rs is <name>; the unit tests of a crate are <name>.<kind>.
        name = m["target"]["name"] if kind == "test" else m["target"]["name"] + "." + kind
        print(name, m["executable"])' "$work/tests-$arch.json")
}
[ $host = 0 ] && [[ " ${arches[*]} " != *" x86_64 "* ]] || build_for x86_64
[[ " ${arches[*]} " != *" aarch64 "* ]] || build_for aarch64

# results[kernel|tool|hook] = pass, or the first error line of a failed check
declare -A results timing arch_of ran
columns=()

record() { # kernel, then "check HOOK TOOL TEST RESULT SECONDS WHY..." lines on stdin
    local kernel=$1 word hook tool test result secs why key
    while read -r word hook tool test result secs why; do
        [ "$word" = check ] || continue
        key="$kernel|$tool|$hook"
        printf '  %s %s %s %s: %s in %s s %s\n' "$kernel" "$hook" "$tool" "$test" "$result" "$secs" "$why" >&2
        if [ "$result" = pass ]; then
            [ -n "${results[$key]:-}" ] || results[$key]=pass
        elif [ "${results[$key]:-pass}" = pass ]; then
            results[$key]="$test: $why"
        fi
    done
}

# Stages a directory laid out as the tests expect: the tools in DIR, the
# test binaries in DIR/deps (tool_path() looks beside deps/).
stage_binaries() { # dir, arch
    local dir=$1 arch=$2 target release=target/release
    [ "$arch" = x86_64 ] || release=target/aarch64-unknown-linux-gnu/release
    mkdir -p "$dir/deps"
    for tool in $(cat tools.txt); do cp "$release/$tool" "$dir/"; done
    for target in $(awk '!/^#/ && NF { print $2 }' "$here/checks.txt" | sort -u); do
        [ -n "${test_bin[$arch|$target]:-}" ] || die "no $arch test binary for $target (checks.txt)"
        cp "${test_bin[$arch|$target]}" "$dir/deps/$target-matrix"
    done
    cp "$here/run-checks.sh" "$here/checks.txt" "$dir/"
}

if [ $host = 1 ]; then
    kernel=$(uname -r)
    columns+=("$kernel")
    arch_of[$kernel]=$(uname -m)
    ran[$kernel]=" ${hooks[*]} "
    log "host kernel $kernel"
    stage_binaries "$work/host" x86_64
    start=$(date +%s)
    for hook in "${hooks[@]}"; do
        record "$kernel" < <(sh "$work/host/run-checks.sh" "$work/host" "$work/host/checks.txt" "$hook" "${tools[@]}" |
            tee >(grep '^  | ' >&2))
    done
    timing[$kernel]="host, checks $(($(date +%s) - start)) s"
fi

# Copies an executable and the shared libraries it loads into the guest root.
add_elf() {
    local root=$1 src=$2 dest=${3:-$2}
    mkdir -p "$root/$(dirname "$dest")"
    rm -f "$root/$dest" # perhaps a busybox applet's link
    cp -L "$src" "$root/$dest"
    add_libs "$root" "$src"
}

# Copies the shared libraries an executable loads into the guest root.
add_libs() {
    local root=$1 src=$2 lib
    for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*'); do
        [ -e "$root/$lib" ] || { mkdir -p "$root/$(dirname "$lib")"; cp -L "$lib" "$root/$lib"; }
    done
}

decompress() {
    case $1 in
    *.xz) xz -dc "$1" ;;
    *.zst) zstd -qdc "$1" ;;
    *) cat "$1" ;;
    esac
}

# Adds kernel module NAME and the modules it depends on (first) from an
# unpacked kernel package to the guest, decompressed for busybox insmod.
add_module() {
    local root=$1 modroot=$2 name=$3 file dep
    grep -qx "$name.ko" "$root/matrix/modules.order" 2>/dev/null && return
    file=$(find "$modroot" -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" | head -n1)
    [ -n "$file" ] || die "module $name is not in $modroot"
    # The .modinfo section's "depends=" string (no kmod on the host needed).
    for dep in $(decompress "$file" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '); do
        add_module "$root" "$modroot" "$dep"
    done
    mkdir -p "$root/matrix/modules"
    decompress "$file" >"$root/matrix/modules/$name.ko"
    echo "$name.ko" >>"$root/matrix/modules.order"
}

# The x86_64 guests' userland: busybox, the few programs the tests run
# that busybox lacks or differs in, copied from this machine.
x86_64_userland() { # root
    local base=$1
    mkdir -p "$base"/{bin,dev,proc,sys,tmp,run,root,matrix}
    cp /usr/bin/busybox "$base/bin/busybox"
    for applet in $(/usr/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$base/bin/$applet"
    done
    add_elf "$base" /bin/bash /bin/bash
    add_elf "$base" /usr/bin/stdbuf /bin/stdbuf
    add_elf "$base" /usr/libexec/coreutils/libstdbuf.so
    add_elf "$base" "$(command -v losetup)" /bin/losetup # busybox's has no --show
    # fsdist's checks: ext4 and XFS file systems on loop devices.
    for prog in mount umount mkfs.ext4 mkfs.xfs; do
        add_elf "$base" "$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$prog")" "/bin/$prog"
    done
    mkdir -p "$base/etc"
    cp /etc/mke2fs.conf "$base/etc/mke2fs.conf"
    # The network tools' tests: namespaces, veth pairs, nftables rules, tbf
    # and offloads (busybox's ip and tc cannot), and the Python workloads.
    for prog in ip tc ss nft ethtool; do
        add_elf "$base" "$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$prog")" "/bin/$prog"
    done
    add_elf "$base" /usr/bin/python3.11 /usr/bin/python3
    mkdir -p "$base/usr/lib"
    tar -C /usr/lib --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter \
        --exclude=ensurepip --exclude=lib2to3 --exclude=__pycache__ --exclude=site-packages \
        --exclude=dist-packages -cf - python3.11 | tar -C "$base/usr/lib" -xf -
    for so in "$base"/usr/lib/python3.11/lib-dynload/*.so; do add_libs "$base" "$so"; done
}

# The arm64 guests' userland: the same programs from Debian's arm64
# packages, with the libraries they need (apt resolves them as if arm64
# were this machine's only architecture, into an empty package database),
# unpacked, never installed; busybox for the rest.
aarch64_userland() { # root
    local base=$1 debs=$work/debs-aarch64 applet dir found
    mkdir -p "$debs/partial"
    : >"$work/dpkg-status-aarch64"
    apt-get -q -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
        -o Dir::State::status="$work/dpkg-status-aarch64" -o Dir::Cache::archives="$debs" \
        -o Debug::NoLocking=1 -o APT::Install-Recommends=0 --download-only -y install \
        busybox-static bash coreutils util-linux mount e2fsprogs xfsprogs iproute2 nftables \
        ethtool python3.11-minimal libpython3.11-stdlib >"$work/apt-aarch64.log" 2>&1 ||
        { cat "$work/apt-aarch64.log" >&2; die "could not download the arm64 userland (dpkg --add-architecture arm64: scripts/setup.sh)"; }
    mkdir -p "$base"
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$base"; done
    # Not needed by the checks: documentation, ICU (only xfs_scrub's), and
    # what the x86_64 guests leave out of Python.
    rm -rf "$base"/usr/share/{doc,man,info,locale,lintian,zoneinfo} "$base"/usr/sbin/xfs_scrub* \
        "$base"/usr/lib/aarch64-linux-gnu/libicu* "$base"/var/cache "$base"/var/lib/dpkg
    for dir in test tests idlelib tkinter ensurepip lib2to3; do rm -rf "$base/usr/lib/python3.11/$dir"; done
    find "$base/usr/lib/python3.11" -name __pycache__ -prune -exec rm -rf {} +
    mkdir -p "$base"/{bin,dev,proc,sys,tmp,run,root,matrix}
    # Busybox's applets where Debian's packages brought no program (sed,
    # grep, insmod, poweroff; /bin/sh). The applet list is the same
    # busybox's, this machine's build.
    for applet in $(/usr/bin/busybox --list); do
        found=
        for dir in bin sbin usr/bin usr/sbin; do
            [ -e "$base/$dir/$applet" ] || [ -L "$base/$dir/$applet" ] && found=1
        done
        [ -n "$found" ] || ln -s busybox "$base/bin/$applet"
    done
    # The names init and the tests use, where the x86_64 guests have them.
    ln -sf /sbin/losetup "$base/bin/losetup"
    ln -sf /usr/bin/stdbuf "$base/bin/stdbuf"
    ln -sf /usr/bin/python3.11 "$base/usr/bin/python3"
}

# The guests' root, one per architecture, shared by its kernels: the
# userland, the tools and the tests, the checks and /init.
declare -A base
for arch in $([ ${#arches[@]} -eq 0 ] || printf '%s\n' "${arches[@]}" | sort -u); do
    base[$arch]=$work/rootfs-$arch
    "${arch}_userland" "${base[$arch]}"
    stage_binaries "${base[$arch]}/matrix" "$arch"
    if [ "$arch" = x86_64 ]; then
        for elf in "${base[$arch]}"/matrix/* "${base[$arch]}"/matrix/deps/*; do
            [ -f "$elf" ] && [ -x "$elf" ] && add_libs "${base[$arch]}" "$elf"
        done
    fi
    cp "$here/init" "${base[$arch]}/init"
    printf '%s\n' "${tools[@]}" >"${base[$arch]}/matrix/tools"
    # Archived once: each kernel's initramfs is this archive followed by a
    # small one of its own (the kernel unpacks concatenated archives in
    # order).
    (cd "${base[$arch]}" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$work/base-$arch.cpio.gz"
done

# The monitor command's output (QEMU's human monitor on a UNIX socket).
monitor() { # socket, command
    python3 - "$1" "$2" <<'PY' 2>/dev/null || true
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(2)
def drain():
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    return out.decode(errors="replace")
drain()
s.sendall(sys.argv[2].encode() + b"\n")
time.sleep(1)
print(drain())
PY
}

# Boots kernel RELEASE's guest (attempt N), runs its checks and records
# them; false if the guest froze before it finished.
boot_guest() { # release, vmlinuz, attempt, arch
    local release=$1 vmlinuz=$2 attempt=$3 arch=$4 console qemu start elapsed booted done_at running
    local socket=$work/monitor-$release-$attempt
    log "booting $release under QEMU (TCG)$([ "$attempt" = 1 ] || echo ", again: the first boot froze")"
    console=$work/console-$release-$attempt.log
    start=$(date +%s)
    # thread=single: under multi-threaded TCG, QEMU 7.2 can run a stale
    # translation of kernel text being patched (an int3 left in __schedule
    # as tracepoints are enabled: Oops, frozen guest; fixed in QEMU 8.1).
    # nokaslr: a frozen CPU's RIP below is a plain kernel address;
    # unknown_nmi_panic: the monitor's NMI then makes the kernel print where
    # it was (panic is verbose whatever the loglevel).
    # A disk of its own (sparse, new each boot): the guest's /tmp, as on a
    # real machine, and a device whose interrupts the checks can drive.
    rm -f "$work/disk.img"
    truncate -s 512M "$work/disk.img"
    local disk=(-drive "file=$work/disk.img,format=raw,if=virtio") monitor=(-monitor "unix:$socket,server,nowait")
    if [ "$arch" = aarch64 ]; then
        # QEMU's generic arm64 machine (GICv3, PL011 serial, PCIe, with a
        # root port for an AER error as on x86); a CPU without pointer
        # authentication, which TCG emulates slowly. Multi-threaded TCG:
        # the stale-translation race below is x86's text patching (arm64
        # patches through stop_machine).
        qemu-system-aarch64 -machine virt,gic-version=3 -accel tcg -cpu max,pauth=off -smp 2 -m 2048 \
            -nographic -no-reboot -nic none -kernel "$vmlinuz" -initrd "$work/initrd-$release" \
            "${disk[@]}" "${monitor[@]}" \
            -device pcie-root-port,id=matrix-port,chassis=1 \
            -append "console=ttyAMA0 panic=-1 quiet loglevel=3 nokaslr" \
            </dev/null >"$console" 2>&1 &
    else
        # q35: PCI Express, with a root port whose AER the guest's kernel
        # enables, for an error that the monitor injects.
        qemu-system-x86_64 -machine q35 -accel tcg,thread=single -cpu max -smp 2 -m 2048 \
            -nographic -no-reboot -nic none -kernel "$vmlinuz" -initrd "$work/initrd-$release" \
            "${disk[@]}" "${monitor[@]}" \
            -device pcie-root-port,id=matrix-port,chassis=1 \
            -append "console=ttyS0 panic=-1 quiet loglevel=3 nokaslr unknown_nmi_panic=1" \
            </dev/null >"$console" 2>&1 &
    fi
    qemu=$!
    local injected=0 aer_injected=0 asked
    while kill -0 "$qemu" 2>/dev/null && [ $(($(date +%s) - start)) -lt "$guest_timeout" ]; do
        sleep 1
        # hwerr's check asks for a machine check on the console: a
        # corrected error in CPU 0's bank 1 (VAL and EN set), which the
        # guest's poller then finds.
        asked=$(grep -c 'matrix: inject mce' "$console" 2>/dev/null || true)
        while [ "$injected" -lt "${asked:-0}" ]; do
            monitor "$socket" "mce 0 1 0x9000000000000000 0 0 0" >/dev/null
            injected=$((injected + 1))
        done
        # And for a PCIe AER error: an uncorrected, non-fatal completion
        # timeout (status bit 14) of the root port itself.
        asked=$(grep -c 'matrix: inject aer' "$console" 2>/dev/null || true)
        while [ "$aer_injected" -lt "${asked:-0}" ]; do
            monitor "$socket" "pcie_aer_inject_error matrix-port 0x4000" >>"$work/monitor-$release.log"
            aer_injected=$((aer_injected + 1))
        done
    done
    if kill -0 "$qemu" 2>/dev/null; then
        log "$release: no end after $guest_timeout s; the virtual CPUs:"
        monitor "$socket" "info registers -a" | grep -E '^(CPU#|RIP|RSP|EFL|PC=)' | sed 's/^/  qemu: /' >&2
        monitor "$socket" "nmi" >/dev/null
        sleep 10
        kill "$qemu" 2>/dev/null
    fi
    wait "$qemu" 2>/dev/null || true
    elapsed=$(($(date +%s) - start))
    # Without the carriage returns and the firmware's terminal escapes.
    sed -i 's/\r$//; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' "$console"
    record "$release" <"$console"
    booted=$(sed -n 's/.*matrix: booted .* in \([0-9.]*\) s.*/\1/p' "$console")
    done_at=$(sed -n 's/.*matrix: done at \([0-9.]*\) s.*/\1/p' "$console")
    grep -h 'matrix: \(insmod\|no \)' "$console" >&2 || true
    # Failed tests' output (run-checks.sh prints it indented with "  | ").
    grep -h '^  | ' "$console" >&2 || true
    if [ -z "$booted" ]; then
        timing[$release]+="did not boot ($elapsed s): $(grep -v '^$' "$console" | tail -n1)"
        return 0 # not a freeze: nothing to retry
    elif [ -z "$done_at" ]; then
        # The check that had begun and not ended, and what the kernel said.
        running=$(awk '$1 == "begin" { last = $2 " " $3 " " $4 } $1 == "check" { last = "" } END { print last }' "$console")
        timing[$release]+="boot ${booted} s, FROZE before the checks ended (running: ${running:-?}); "
        grep '^\[ *[0-9]*\.[0-9]*\]' "$console" | tail -n 80 | sed 's/^/  kernel: /' >&2 || true
        return 1
    fi
    timing[$release]+="boot ${booted} s, checks $(awk "BEGIN { printf \"%.0f\", $done_at - $booted }") s, QEMU wall ${elapsed} s"
}

mkdir -p "$cache"
for package in "${kernels[@]}"; do
    # A meta-package names the current build: follow it to the image itself.
    real=$package
    while dep=$(apt-cache depends "$real" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }') && [ -n "$dep" ]; do
        real=$dep
    done
    arch=$(arch_of_package "$package")
    # (The file is named without the :arm64 qualifier.)
    deb=$(ls "$cache/${real%:arm64}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        log "downloading $real"
        (cd "$cache" && apt-get download -q "$real" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
        deb=$(ls "$cache/${real%:arm64}"_*.deb 2>/dev/null | head -n1 || true)
        [ -n "$deb" ] || die "could not download $real"
    fi
    unpacked=$work/${real%:arm64}
    dpkg -x "$deb" "$unpacked"
    vmlinuz=$(ls "$unpacked"/boot/vmlinuz-* | head -n1)
    release=${vmlinuz##*/vmlinuz-}
    mapfile -t kernel_hooks < <(hooks_of_package "$package")
    if [ ${#kernel_hooks[@]} = 0 ]; then
        log "$release: none of the hook kinds asked for is its ci= one: not booted"
        continue
    fi
    columns+=("$release")
    arch_of[$release]=$arch
    ran[$release]=" ${kernel_hooks[*]} "

    # What is this kernel's own: its hook kinds and modules.
    root=$work/root-$release
    mkdir -p "$root/matrix"
    printf '%s\n' "${kernel_hooks[@]}" >"$root/matrix/hooks"
    # virtio_blk: the guest's disk, whose interrupts hardirqs' check drives
    # (virtio_pci, its transport, is built in on 6.12, a module on 6.1).
    # loop: biolatency's and fsdist's devices.
    for module in loop veth nf_tables nft_numgen sch_tbf tcp_diag virtio_blk; do
        add_module "$root" "$unpacked/lib/modules/$release" "$module"
    done
    # virtio_pci and xfs: modules where the kernel does not build them in.
    for module in virtio_pci xfs; do
        if find "$unpacked/lib/modules/$release" -name "$module.ko*" | grep -q .; then
            add_module "$root" "$unpacked/lib/modules/$release" "$module"
        fi
    done
    {
        cat "$work/base-$arch.cpio.gz"
        (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1
    } >"$work/initrd-$release"

    # A guest that freezes (no output, not even run-checks.sh's watchdog:
    # both virtual CPUs stuck) is booted once more for its checks; the freeze
    # is reported with where the CPUs were, and fails the run if it recurs.
    for attempt in 1 2; do
        boot_guest "$release" "$vmlinuz" "$attempt" "$arch" && break
        [ "$attempt" = 1 ] || frozen_twice=1
    done
done

# The table: one row per kernel and tool, one column per hook kind; a
# failed cell points to its first error line below the table.
failed=${frozen_twice:-0} notes=()
printf '\n%-32s %-8s %-11s' kernel arch tool
for hook in "${hooks[@]}"; do printf ' %-10s' "$hook"; done
printf '\n'
for kernel in "${columns[@]}"; do
    for tool in "${tools[@]}"; do
        printf '%-32s %-8s %-11s' "$kernel" "${arch_of[$kernel]}" "$tool"
        for hook in "${hooks[@]}"; do
            cell=${results[$kernel|$tool|$hook]:-no result}
            if [[ "${ran[$kernel]}" != *" $hook "* ]]; then
                printf ' %-10s' "-" # not run here (--ci)
            elif [ "$cell" = pass ]; then
                printf ' %-10s' pass
            else
                failed=1
                notes+=("$cell")
                printf ' %-10s' "FAIL [${#notes[@]}]"
            fi
        done
        printf '\n'
    done
done
printf '\n'
for kernel in "${columns[@]}"; do printf '%s: %s\n' "$kernel" "${timing[$kernel]:-}"; done
for i in "${!notes[@]}"; do printf '[%d] %s\n' $((i + 1)) "${notes[$i]}"; done
exit $failed
