/* The throttle's C API: buckets, all-or-nothing charging, reservations, rate changes, the
 * load ceiling, and every error path (NULL arguments, bad limits, unknown nodes). */
#include <math.h>
#include "check.h"

int main(void) {
    trimtab_throttle_config cfg;
    CHECK(trimtab_throttle_config_default(NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK_OK(trimtab_throttle_config_default(&cfg));
    CHECK(cfg.load.cpu > 0.79 && cfg.load.cpu < 0.81);
    cfg.global.rate = 1000;
    cfg.global.burst = 1000;

    trimtab_throttle *t = NULL;
    CHECK(trimtab_throttle_new(NULL, 0, &t) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK(trimtab_throttle_new(&cfg, 0, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    trimtab_throttle_config bad = cfg;
    bad.global.rate = 0;
    CHECK(trimtab_throttle_new(&bad, 0, &t) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK(t == NULL); /* out-pointer untouched on failure */
    bad = cfg;
    bad.load.floor = NAN;
    CHECK(trimtab_throttle_new(&bad, 0, &t) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK_OK(trimtab_throttle_new(&cfg, 0, &t));

    trimtab_limit l1 = {1000, 500}, l2 = {1000, 200}, zero = {0, 1};
    CHECK_OK(trimtab_throttle_add_node(t, 1, l1, l1, 0));
    CHECK_OK(trimtab_throttle_add_node(t, 2, l1, l2, 0));
    CHECK(trimtab_throttle_add_node(t, 2, l1, l1, 0) == TRIMTAB_STATUS_THROTTLE_DUPLICATE_NODE);
    CHECK(trimtab_throttle_add_node(t, 3, zero, l1, 0) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK(trimtab_throttle_add_node(NULL, 3, l1, l1, 0) == TRIMTAB_STATUS_NULL_PARAMETER);

    bool ok = false;
    CHECK_OK(trimtab_throttle_try_acquire(t, 1, 2, 150, 0, &ok));
    CHECK(ok);
    /* node 2 inbound has 50 left: refused and nothing charged. */
    CHECK_OK(trimtab_throttle_try_acquire(t, 1, 2, 100, 0, &ok));
    CHECK(!ok);
    CHECK(trimtab_throttle_try_acquire(t, 1, 2, 201, 0, &ok) == TRIMTAB_STATUS_THROTTLE_EXCEEDS_BURST);
    CHECK(trimtab_throttle_try_acquire(t, 1, 9, 1, 0, &ok) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_throttle_try_acquire(t, 1, 2, 1, 0, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);

    uint64_t got = 0;
    CHECK_OK(trimtab_throttle_acquire_up_to(t, 1, 2, 1000000, 0, &got));
    CHECK(got == 50);
    /* 100 ms later: 100 bytes refilled everywhere. */
    CHECK_OK(trimtab_throttle_acquire_up_to(t, 1, 2, 1000000, 100000000ull, &got));
    CHECK(got == 100);

    /* A reservation larger than every burst goes exactly (n - balance) / rate later. */
    uint64_t at = 0;
    CHECK_OK(trimtab_throttle_reserve(t, 2, 1, 3000, 100000000ull, &at));
    /* The latest of the three: node 2 outbound holds 500, so (3000 - 500) / 1000 = 2.5 s. */
    CHECK(at == 100000000ull + 2500000000ull);
    CHECK(trimtab_throttle_reserve(t, 2, 1, 1, 0, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK_OK(trimtab_throttle_refund(t, 1, 2, 10));
    CHECK(trimtab_throttle_refund(t, 7, 2, 10) == TRIMTAB_STATUS_NOT_FOUND);

    trimtab_limit fast = {1000000, 1000};
    CHECK_OK(trimtab_throttle_set_node_limits(t, 1, fast, fast, 200000000ull));
    CHECK(trimtab_throttle_set_node_limits(t, 1, zero, fast, 0) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK(trimtab_throttle_set_node_limits(t, 8, fast, fast, 0) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK_OK(trimtab_throttle_set_global_limit(t, fast, 200000000ull));

    trimtab_load_metrics hot = {0.95, 0.2, 0.0, -1.0};
    uint32_t ppm = 0;
    CHECK_OK(trimtab_throttle_report_load(t, true, 1, &hot, 300000000ull));
    CHECK_OK(trimtab_throttle_ceiling(t, true, 1, &ppm));
    CHECK(ppm == 100000);
    CHECK_OK(trimtab_throttle_ceiling(t, false, 0, &ppm));
    CHECK(ppm == 1000000);
    trimtab_load_metrics nan = {NAN, 0.0, 0.0, -1.0};
    CHECK(trimtab_throttle_report_load(t, false, 0, &nan, 0) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK(trimtab_throttle_report_load(t, true, 42, &hot, 0) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_throttle_report_load(t, false, 0, NULL, 0) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK(trimtab_throttle_ceiling(t, false, 0, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);

    trimtab_throttle_free(t);
    trimtab_throttle_free(NULL);
    return 0;
}
