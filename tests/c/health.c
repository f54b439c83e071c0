/* The health part's C ABI: failure detector and disk health, including error paths
 * (NULL arguments, bad configurations, unknown ids, duplicates) and an empty event queue.
 * Everything made is freed (valgrind checks it). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

#define SEC 1000000000ull
#define MS 1000000ull

static void detector(void) {
    trimtab_detector_config cfg;
    CHECK(trimtab_detector_config_default(NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK_OK(trimtab_detector_config_default(&cfg));
    CHECK(cfg.window == 128);
    CHECK(cfg.learn_pauses == 1);
    CHECK(cfg.stall_limit_ns == 5 * SEC);

    trimtab_detector *d = NULL;
    CHECK(trimtab_detector_new(NULL, &d) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK(trimtab_detector_new(&cfg, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    /* Bad configurations: a NaN threshold, a window of 1, a flag that is not 0 or 1. */
    trimtab_detector_config bad = cfg;
    bad.threshold = 0.0 / 0.0;
    CHECK(trimtab_detector_new(&bad, &d) == TRIMTAB_STATUS_HEALTH_CONFIG_INVALID);
    CHECK(d == NULL);
    bad = cfg;
    bad.window = 1;
    CHECK(trimtab_detector_new(&bad, &d) == TRIMTAB_STATUS_HEALTH_CONFIG_INVALID);
    bad = cfg;
    bad.learn_pauses = 7;
    CHECK(trimtab_detector_new(&bad, &d) == TRIMTAB_STATUS_HEALTH_CONFIG_INVALID);
    {
        char msg[256];
        size_t len = 0;
        CHECK_OK(trimtab_last_error(msg, sizeof msg, &len));
        CHECK(strstr(msg, "learn_pauses") != NULL);
    }
    CHECK(d == NULL);

    cfg.capacity = 3;
    CHECK_OK(trimtab_detector_new(&cfg, &d));
    CHECK(d != NULL);

    uint64_t deadline = 0;
    CHECK_OK(trimtab_detector_next_deadline(d, &deadline));
    CHECK(deadline == UINT64_MAX);
    CHECK(trimtab_detector_next_deadline(d, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK(trimtab_detector_next_deadline(NULL, &deadline) == TRIMTAB_STATUS_NULL_PARAMETER);

    CHECK_OK(trimtab_detector_add_node(d, 1, 0));
    CHECK_OK(trimtab_detector_add_node(d, 2, 0));
    CHECK(trimtab_detector_add_node(d, 2, 0) == TRIMTAB_STATUS_HEALTH_DUPLICATE);
    CHECK_OK(trimtab_detector_add_node(d, 3, 0));
    CHECK(trimtab_detector_add_node(d, 4, 0) == TRIMTAB_STATUS_CAPACITY_EXCEEDED);
    CHECK_OK(trimtab_detector_remove_node(d, 3));
    CHECK(trimtab_detector_remove_node(d, 3) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_detector_heartbeat(d, 99, SEC) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_detector_heartbeat(NULL, 1, SEC) == TRIMTAB_STATUS_NULL_PARAMETER);

    trimtab_node_event ev;
    bool has = true;
    CHECK_OK(trimtab_detector_poll_event(d, &ev, &has));
    CHECK(!has);
    CHECK(trimtab_detector_poll_event(d, NULL, &has) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK(trimtab_detector_poll_event(d, &ev, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);

    /* Both nodes heartbeat for a minute; then node 2 falls silent. The host ticks when
     * the detector says. */
    uint64_t now = 0;
    for (uint64_t s = 1; s <= 60; s++) {
        now = s * SEC;
        CHECK_OK(trimtab_detector_tick(d, now));
        CHECK_OK(trimtab_detector_heartbeat(d, 1, now));
        CHECK_OK(trimtab_detector_heartbeat(d, 2, now + 5 * MS));
    }
    /* A duplicate and a heartbeat with time going backwards are no-ops. */
    CHECK_OK(trimtab_detector_heartbeat(d, 1, now));
    CHECK_OK(trimtab_detector_heartbeat(d, 1, now - SEC));
    trimtab_node_state st;
    CHECK_OK(trimtab_detector_node_state(d, 2, &st));
    CHECK(st == TRIMTAB_NODE_STATE_ALIVE);
    CHECK(trimtab_detector_node_state(d, 42, &st) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_detector_node_state(d, 2, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);

    bool saw_suspect = false, saw_dead = false;
    uint64_t dead_at = 0;
    for (uint64_t k = 1; k <= 40 && !saw_dead; k++) {
        /* Half-second steps, never later than the detector's next deadline. */
        uint64_t t = now + k * SEC / 2;
        CHECK_OK(trimtab_detector_next_deadline(d, &deadline));
        CHECK(deadline != UINT64_MAX);
        CHECK(deadline <= t + SEC / 2);
        if (k % 2 == 0) {
            CHECK_OK(trimtab_detector_heartbeat(d, 1, t)); /* node 1 keeps beating */
        }
        CHECK_OK(trimtab_detector_tick(d, t));
        for (;;) {
            CHECK_OK(trimtab_detector_poll_event(d, &ev, &has));
            if (!has) break;
            CHECK(ev.node == 2);
            if (ev.kind == TRIMTAB_NODE_EVENT_KIND_SUSPECTED) saw_suspect = true;
            if (ev.kind == TRIMTAB_NODE_EVENT_KIND_DEAD) {
                saw_dead = true;
                dead_at = ev.at_ns;
            }
        }
    }
    CHECK(saw_suspect);
    CHECK(saw_dead);
    /* Before warm-up the allowance is the 4 s prior: convicted 5 to 7 s after the last beat. */
    CHECK(dead_at > now + 4 * SEC && dead_at < now + 8 * SEC);
    CHECK_OK(trimtab_detector_node_state(d, 2, &st));
    CHECK(st == TRIMTAB_NODE_STATE_DEAD);
    CHECK_OK(trimtab_detector_node_state(d, 1, &st));
    CHECK(st == TRIMTAB_NODE_STATE_ALIVE);

    uint64_t dropped = 1;
    CHECK_OK(trimtab_detector_events_dropped(d, &dropped));
    CHECK(dropped == 0);

    trimtab_detector_free(d);
    trimtab_detector_free(NULL);
}

static void disk(void) {
    trimtab_disk_health_config cfg;
    CHECK(trimtab_disk_health_config_default(NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK_OK(trimtab_disk_health_config_default(&cfg));
    trimtab_disk_health *h = NULL;
    trimtab_disk_health_config bad = cfg;
    bad.failed_score = bad.degraded_score - 1;
    CHECK(trimtab_disk_health_new(&bad, &h) == TRIMTAB_STATUS_HEALTH_CONFIG_INVALID);
    CHECK(h == NULL);
    CHECK(trimtab_disk_health_new(NULL, &h) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK_OK(trimtab_disk_health_new(&cfg, &h));

    CHECK_OK(trimtab_disk_health_add_device(h, 10, 0));
    CHECK_OK(trimtab_disk_health_add_device(h, 11, 0));
    CHECK(trimtab_disk_health_add_device(h, 10, 0) == TRIMTAB_STATUS_HEALTH_DUPLICATE);

    trimtab_disk_report r;
    memset(&r, 0, sizeof r);
    CHECK(trimtab_disk_health_report(h, 12, &r, SEC) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_disk_health_report(h, 10, NULL, SEC) == TRIMTAB_STATUS_NULL_PARAMETER);
    r.has_pending_sectors = 2;
    CHECK(trimtab_disk_health_report(h, 10, &r, SEC) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    r.has_pending_sectors = 0;

    /* Device 10 collects I/O errors: degraded, then failed (mark out and rebuild). */
    r.io_errors = 4;
    CHECK_OK(trimtab_disk_health_report(h, 10, &r, 2 * SEC));
    trimtab_device_state st;
    CHECK_OK(trimtab_disk_health_device_state(h, 10, &st));
    CHECK(st == TRIMTAB_DEVICE_STATE_DEGRADED);
    r.io_errors = 30;
    CHECK_OK(trimtab_disk_health_report(h, 10, &r, 3 * SEC));
    CHECK_OK(trimtab_disk_health_device_state(h, 10, &st));
    CHECK(st == TRIMTAB_DEVICE_STATE_FAILED);

    trimtab_device_event ev;
    bool has = false;
    CHECK_OK(trimtab_disk_health_poll_event(h, &ev, &has));
    CHECK(has && ev.device == 10 && ev.from == TRIMTAB_DEVICE_STATE_HEALTHY && ev.to == TRIMTAB_DEVICE_STATE_DEGRADED);
    CHECK_OK(trimtab_disk_health_poll_event(h, &ev, &has));
    CHECK(has && ev.to == TRIMTAB_DEVICE_STATE_FAILED && ev.at_ns == 3 * SEC);
    CHECK_OK(trimtab_disk_health_poll_event(h, &ev, &has));
    CHECK(!has);

    /* Device 11 stops reporting: stale, not healthy. */
    uint64_t deadline = 0;
    CHECK_OK(trimtab_disk_health_next_deadline(h, &deadline));
    CHECK(deadline == cfg.stale_after_ns);
    CHECK_OK(trimtab_disk_health_tick(h, deadline));
    CHECK_OK(trimtab_disk_health_device_state(h, 11, &st));
    CHECK(st == TRIMTAB_DEVICE_STATE_STALE);
    CHECK_OK(trimtab_disk_health_poll_event(h, &ev, &has));
    CHECK(has && ev.device == 11 && ev.to == TRIMTAB_DEVICE_STATE_STALE);

    /* SMART counters: pending sectors degrade it again once it reports. */
    memset(&r, 0, sizeof r);
    r.has_pending_sectors = 1;
    r.pending_sectors = 3;
    CHECK_OK(trimtab_disk_health_report(h, 11, &r, deadline + SEC));
    CHECK_OK(trimtab_disk_health_device_state(h, 11, &st));
    CHECK(st == TRIMTAB_DEVICE_STATE_DEGRADED);

    CHECK_OK(trimtab_disk_health_reset_device(h, 10, deadline + 2 * SEC));
    CHECK_OK(trimtab_disk_health_device_state(h, 10, &st));
    CHECK(st == TRIMTAB_DEVICE_STATE_HEALTHY);
    CHECK_OK(trimtab_disk_health_remove_device(h, 10));
    CHECK(trimtab_disk_health_remove_device(h, 10) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_disk_health_device_state(h, 10, &st) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_disk_health_tick(NULL, 0) == TRIMTAB_STATUS_NULL_PARAMETER);

    trimtab_disk_health_free(h);
    trimtab_disk_health_free(NULL);
}

int main(void) {
    CHECK(strcmp(trimtab_status_message(TRIMTAB_STATUS_HEALTH_CONFIG_INVALID), "health configuration rejected") == 0);
    detector();
    disk();
    return 0;
}
