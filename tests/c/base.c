/* The ABI's base: version, status messages, last-error buffer handling. */
#include <string.h>
#include "check.h"

int main(void) {
    CHECK(strcmp(trimtab_version(), TRIMTAB_VERSION) == 0);
    CHECK(trimtab_abi_version() == TRIMTAB_ABI_VERSION);
    CHECK(strcmp(trimtab_status_message(TRIMTAB_STATUS_OK), "ok") == 0);
    CHECK(strcmp(trimtab_status_message(TRIMTAB_STATUS_NULL_PARAMETER), "a required pointer argument was NULL") == 0);
    /* An integer that is no status at all is accepted. */
    CHECK(strcmp(trimtab_status_message(987654u), "unknown status code") == 0);

    /* Asking for the size first: NULL buffer gives BUFFER_TOO_SHORT and the length. */
    size_t len = 12345;
    CHECK(trimtab_last_error(NULL, 0, &len) == TRIMTAB_STATUS_BUFFER_TOO_SHORT);
    CHECK(len == 0);
    char buf[8];
    CHECK_OK(trimtab_last_error(buf, sizeof buf, NULL));
    CHECK(buf[0] == '\0');
    return 0;
}
