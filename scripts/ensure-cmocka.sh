#!/bin/sh
# Make sure the cmocka test library is usable; install it when we are root on Debian/Ubuntu,
# otherwise print the exact command and fail.
cc=${1:-cc}
probe() {
    printf '#include <stdarg.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <setjmp.h>\n#include <cmocka.h>\nint main(void){return 0;}\n' |
        "$cc" -x c - -o /dev/null -lcmocka >/dev/null 2>&1
}
probe && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "cmocka is missing: installing libcmocka-dev with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcmocka-dev >/dev/null
    probe && exit 0
fi
echo "The tests need cmocka. Install it with:" >&2
echo "    sudo apt-get install -y libcmocka-dev" >&2
exit 1
