/* The partition detector's C API: a split, a bridge, events, queries, JSON, error paths. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

#define SEC 1000000000ull

static void report_split(trimtab_partition *d, uint64_t now) {
    /* {1,2,3} | {4,5} */
    const uint64_t a1[] = {2, 3}, a2[] = {1, 3}, a3[] = {1, 2}, a4[] = {5}, a5[] = {4};
    CHECK_OK(trimtab_partition_report(d, 1, a1, 2, now));
    CHECK_OK(trimtab_partition_report(d, 2, a2, 2, now));
    CHECK_OK(trimtab_partition_report(d, 3, a3, 2, now));
    CHECK_OK(trimtab_partition_report(d, 4, a4, 1, now));
    CHECK_OK(trimtab_partition_report(d, 5, a5, 1, now));
}

static void report_full(trimtab_partition *d, uint64_t now) {
    for (uint64_t a = 1; a <= 5; a++) {
        uint64_t peers[4];
        size_t k = 0;
        for (uint64_t b = 1; b <= 5; b++) {
            if (b != a) peers[k++] = b;
        }
        CHECK_OK(trimtab_partition_report(d, a, peers, k, now));
    }
}

int main(void) {
    trimtab_partition_config cfg;
    CHECK(trimtab_partition_config_default(NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK_OK(trimtab_partition_config_default(&cfg));
    CHECK(cfg.report_timeout_ns == 5 * SEC);
    CHECK(cfg.tie_breaker == TRIMTAB_PARTITION_TIE_BREAKER_LOWEST_ID);

    trimtab_partition *d = NULL;
    CHECK(trimtab_partition_new(NULL, &d) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK(trimtab_partition_new(&cfg, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    trimtab_partition_config bad = cfg;
    bad.tie_breaker = 77;
    CHECK(trimtab_partition_new(&bad, &d) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    bad = cfg;
    bad.report_timeout_ns = 0;
    CHECK(trimtab_partition_new(&bad, &d) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK(d == NULL); /* out-pointer untouched on failure */

    cfg.stability_window_ns = 2 * SEC;
    CHECK_OK(trimtab_partition_new(&cfg, &d));
    for (uint64_t id = 1; id <= 5; id++) {
        CHECK_OK(trimtab_partition_add_node(d, id, 1, 0));
    }
    CHECK(trimtab_partition_add_node(d, 3, 1, 0) == TRIMTAB_STATUS_PARTITION_DUPLICATE_NODE);
    CHECK(trimtab_partition_add_node(NULL, 9, 1, 0) == TRIMTAB_STATUS_NULL_PARAMETER);

    /* Error paths of report: unknown node, unknown peer, NULL with a length. */
    const uint64_t unknown_peer[] = {2, 42};
    CHECK(trimtab_partition_report(d, 9, NULL, 0, 0) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_partition_report(d, 1, unknown_peer, 2, 0) == TRIMTAB_STATUS_PARTITION_UNKNOWN_PEER);
    CHECK(trimtab_partition_report(d, 1, NULL, 3, 0) == TRIMTAB_STATUS_NULL_PARAMETER);

    /* Healthy cluster, published after the 2 s window. */
    report_full(d, 0);
    CHECK_OK(trimtab_partition_tick(d, 0));
    trimtab_partition_mode mode;
    CHECK_OK(trimtab_partition_node_mode(d, 4, &mode));
    CHECK(mode == TRIMTAB_PARTITION_MODE_SAFE_MODE); /* nothing published yet */
    uint64_t deadline = 0;
    CHECK_OK(trimtab_partition_next_deadline(d, &deadline));
    CHECK(deadline == 2 * SEC);
    report_full(d, 2 * SEC);
    CHECK_OK(trimtab_partition_tick(d, 2 * SEC));
    CHECK_OK(trimtab_partition_node_mode(d, 4, &mode));
    CHECK(mode == TRIMTAB_PARTITION_MODE_SERVING);
    trimtab_partition_event ev;
    bool has = false;
    int n_events = 0;
    while (trimtab_partition_poll_event(d, &ev, &has) == TRIMTAB_STATUS_OK && has) {
        n_events++;
    }
    CHECK(n_events == 7); /* picture, 5 mode changes, 1 leader */

    /* Split at 10 s: published at 12 s; 4 and 5 read-only. */
    report_split(d, 10 * SEC);
    CHECK_OK(trimtab_partition_tick(d, 10 * SEC));
    CHECK_OK(trimtab_partition_tick(d, 12 * SEC));
    CHECK_OK(trimtab_partition_node_mode(d, 4, &mode));
    CHECK(mode == TRIMTAB_PARTITION_MODE_READ_ONLY);
    size_t comps = 0;
    CHECK_OK(trimtab_partition_component_count(d, &comps));
    CHECK(comps == 2);
    bool has_leader = false;
    uint64_t leader = 0;
    CHECK_OK(trimtab_partition_leader(d, 5, &has_leader, &leader));
    CHECK(has_leader && leader == 4);
    CHECK(trimtab_partition_leader(d, 99, &has_leader, &leader) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_partition_node_mode(d, 99, &mode) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_partition_node_mode(d, 1, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    bool saw_picture = false;
    while (trimtab_partition_poll_event(d, &ev, &has) == TRIMTAB_STATUS_OK && has) {
        if (ev.kind == TRIMTAB_PARTITION_EVENT_KIND_PICTURE_CHANGED) {
            saw_picture = true;
            CHECK(ev.components == 2 && ev.has_serving && ev.serving == 1 && ev.at_ns == 12 * SEC);
        }
    }
    CHECK(saw_picture);

    /* Heal at 20 s, published at 22 s: a recovery listing 4 and 5, out for 10 s. */
    report_full(d, 20 * SEC);
    CHECK_OK(trimtab_partition_tick(d, 22 * SEC));
    int recovered = 0;
    while (trimtab_partition_poll_event(d, &ev, &has) == TRIMTAB_STATUS_OK && has) {
        if (ev.kind == TRIMTAB_PARTITION_EVENT_KIND_RECOVERED) {
            CHECK(ev.recovered_count == 2);
            CHECK(ev.recovered_index == (uint64_t)recovered);
            CHECK(ev.node == 4 + (uint64_t)recovered);
            CHECK(ev.out_for_ns == 10 * SEC);
            recovered++;
        }
    }
    CHECK(recovered == 2);

    /* The picture as JSON: ask for the size, then fill. */
    size_t need = 0;
    CHECK(trimtab_partition_picture_json(d, NULL, 0, &need) == TRIMTAB_STATUS_BUFFER_TOO_SHORT);
    CHECK(need > 0);
    char small[4];
    CHECK(trimtab_partition_picture_json(d, small, sizeof small, &need) == TRIMTAB_STATUS_BUFFER_TOO_SHORT);
    char *json = malloc(need + 1);
    CHECK(json != NULL);
    CHECK_OK(trimtab_partition_picture_json(d, json, need + 1, NULL));
    CHECK(strstr(json, "\"components\"") != NULL);
    free(json);

    /* Reports as JSON: a bridge through 3, all or nothing. */
    const char *bridge = "[{\"node\":1,\"reaches\":[2,3]},{\"node\":2,\"reaches\":[1,3]},"
                         "{\"node\":3,\"reaches\":[1,2,4,5]},{\"node\":4,\"reaches\":[3,5]},"
                         "{\"node\":5,\"reaches\":[3,4]}]";
    CHECK_OK(trimtab_partition_report_json(d, bridge, strlen(bridge), 30 * SEC));
    CHECK_OK(trimtab_partition_tick(d, 32 * SEC));
    CHECK_OK(trimtab_partition_component_count(d, &comps));
    CHECK(comps == 1);
    CHECK_OK(trimtab_partition_node_mode(d, 5, &mode));
    CHECK(mode == TRIMTAB_PARTITION_MODE_READ_ONLY); /* cannot reach the leader, 1 */
    bool saw_partial = false;
    while (trimtab_partition_poll_event(d, &ev, &has) == TRIMTAB_STATUS_OK && has) {
        if (ev.kind == TRIMTAB_PARTITION_EVENT_KIND_PARTIAL_PARTITION) {
            saw_partial = true;
            CHECK(ev.component == 1 && ev.broken_pairs == 4 && ev.max_clique == 3 && ev.viable);
        }
    }
    CHECK(saw_partial);
    const char *broken = "[{\"node\":1,\"reaches\":[2],\"votes\":\"x\"}]";
    CHECK(trimtab_partition_report_json(d, broken, strlen(broken), 33 * SEC) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    char msg[256];
    CHECK_OK(trimtab_last_error(msg, sizeof msg, NULL));
    CHECK(strstr(msg, "votes") != NULL);
    const char *not_utf8 = "\xff\xfe";
    CHECK(trimtab_partition_report_json(d, not_utf8, 2, 33 * SEC) == TRIMTAB_STATUS_INVALID_ARGUMENT);

    /* Runtime changes and their error paths. */
    CHECK_OK(trimtab_partition_set_votes(d, 1, 3));
    CHECK_OK(trimtab_partition_set_priority(d, 2, 5));
    CHECK(trimtab_partition_set_votes(d, 77, 1) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK_OK(trimtab_partition_remove_node(d, 5));
    CHECK(trimtab_partition_remove_node(d, 5) == TRIMTAB_STATUS_NOT_FOUND);
    uint64_t dropped = 1;
    CHECK_OK(trimtab_partition_events_dropped(d, &dropped));
    CHECK(dropped == 0);

    trimtab_partition_free(d);
    trimtab_partition_free(NULL);
    return 0;
}
