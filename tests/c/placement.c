/* The cluster map and placement through the C ABI: build a map, place PGs, look them up,
 * change the map, get the movement plan, balance, snapshot and restore; and the error
 * paths: NULL arguments, bad values, too-short buffers, state unchanged after a rejection. */
#include <string.h>
#include "check.h"

#define S(lit) { lit, sizeof(lit) - 1 }

static trimtab_status add_device(trimtab_topology *t, uint32_t id, const char *rack, const char *host) {
    trimtab_str loc[2] = { { rack, strlen(rack) }, { host, strlen(host) } };
    trimtab_device_spec d;
    memset(&d, 0, sizeof d);
    d.id = id;
    d.location = loc;
    d.location_len = 2;
    d.has_weight = false;
    d.capacity_bytes = 4000000000000ull;
    d.state = TRIMTAB_DEVICE_UP | TRIMTAB_DEVICE_IN;
    return trimtab_topology_add_devices(t, &d, 1);
}

int main(void) {
    trimtab_str levels[2] = { S("rack"), S("host") };
    trimtab_topology *t = NULL;
    CHECK(trimtab_topology_new(levels, 2, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK_OK(trimtab_topology_new(levels, 2, &t));
    char rack[16], host[16];
    for (uint32_t id = 0; id < 48; id++) {
        snprintf(rack, sizeof rack, "r%u", id / 12);
        snprintf(host, sizeof host, "h%u", id / 3);
        CHECK_OK(add_device(t, id, rack, host));
    }
    uint64_t epoch = 0;
    CHECK_OK(trimtab_topology_epoch(t, &epoch));
    size_t count = 0;
    CHECK_OK(trimtab_topology_device_count(t, &count));
    CHECK(count == 48);

    /* Bad input is rejected and changes nothing. */
    CHECK(add_device(t, 5, "r0", "h1") == TRIMTAB_STATUS_TOPOLOGY_INVALID); /* duplicate id */
    CHECK(add_device(t, 100, "r1", "h0") == TRIMTAB_STATUS_TOPOLOGY_INVALID); /* h0 under two racks */
    CHECK(trimtab_topology_set_weight(t, 3, -1.0) == TRIMTAB_STATUS_TOPOLOGY_INVALID);
    CHECK(trimtab_topology_set_weight(t, 999, 1.0) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_topology_set_state(t, 3, 0x80) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK(trimtab_topology_add_devices(t, NULL, 1) == TRIMTAB_STATUS_NULL_PARAMETER);
    uint64_t epoch2 = 0;
    CHECK_OK(trimtab_topology_epoch(t, &epoch2));
    CHECK(epoch2 == epoch);
    CHECK_OK(trimtab_topology_device_count(t, &count));
    CHECK(count == 48);
    size_t msg_len = 0;
    CHECK(trimtab_last_error(NULL, 0, &msg_len) == TRIMTAB_STATUS_BUFFER_TOO_SHORT);
    CHECK(msg_len > 0);

    trimtab_rule rule;
    memset(&rule, 0, sizeof rule);
    rule.mode = TRIMTAB_MODE_REPLICATED;
    rule.replicas = 3;
    rule.failure_domain.ptr = "rack";
    rule.failure_domain.len = 4;
    trimtab_placement *p = NULL;
    trimtab_rule bad = rule;
    bad.failure_domain.ptr = "row";
    bad.failure_domain.len = 3;
    CHECK(trimtab_placement_new(t, &bad, 1024, 0, &p) == TRIMTAB_STATUS_PLACEMENT_INVALID);
    CHECK(p == NULL);
    CHECK(trimtab_placement_new(t, &rule, 0, 0, &p) == TRIMTAB_STATUS_PLACEMENT_INVALID);
    CHECK_OK(trimtab_placement_new(t, &rule, 1024, 0, &p));

    uint32_t pg = 0;
    CHECK_OK(trimtab_placement_object_to_pg(p, (const uint8_t *)"obj", 3, &pg));
    CHECK(pg < 1024);
    uint32_t devs[8];
    size_t n = 0;
    CHECK(trimtab_placement_pg_devices(p, pg, devs, 2, &n) == TRIMTAB_STATUS_BUFFER_TOO_SHORT);
    CHECK(n == 3);
    CHECK_OK(trimtab_placement_pg_devices(p, pg, devs, 8, &n));
    CHECK(n == 3);
    /* three distinct racks */
    CHECK(devs[0] / 12 != devs[1] / 12 && devs[0] / 12 != devs[2] / 12 && devs[1] / 12 != devs[2] / 12);
    CHECK(trimtab_placement_pg_devices(p, 5000, devs, 8, &n) == TRIMTAB_STATUS_NOT_FOUND);

    trimtab_balancer_config cfg;
    CHECK_OK(trimtab_balancer_config_default(&cfg));
    cfg.max_moves = 100000;
    bool converged = false;
    trimtab_plan *bplan = NULL;
    CHECK_OK(trimtab_placement_balance(p, t, &cfg, &bplan, &converged));
    CHECK(converged);
    trimtab_plan_free(bplan);
    trimtab_placement_stats rep;
    CHECK_OK(trimtab_placement_report(p, &rep));
    CHECK(rep.max_over_mean < 1.02 + 1.0 / 64.0);
    CHECK(rep.degraded_pgs == 0);

    /* Mark a device out: only its shards move. */
    CHECK_OK(trimtab_topology_set_state(t, 7, TRIMTAB_DEVICE_UP));
    trimtab_plan *plan = NULL;
    CHECK(trimtab_placement_update(p, t, 9, &plan) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK_OK(trimtab_placement_update(p, t, TRIMTAB_UPDATE_PIN, &plan));
    trimtab_plan_summary sum;
    CHECK_OK(trimtab_plan_summary_get(plan, &sum));
    CHECK(sum.moves > 0 && sum.moved_shards == sum.moves);
    trimtab_shard_move moves[4];
    size_t got = 0, seen = 0;
    for (size_t first = 0; first < sum.moves; first += got) {
        CHECK_OK(trimtab_plan_moves(plan, first, moves, 4, &got));
        CHECK(got > 0);
        for (size_t i = 0; i < got; i++) {
            CHECK(moves[i].from == 7);
            CHECK(moves[i].to != 7 && moves[i].to != TRIMTAB_NO_DEVICE);
        }
        seen += got;
    }
    CHECK(seen == sum.moves);
    CHECK_OK(trimtab_plan_moves(plan, sum.moves + 10, moves, 4, &got));
    CHECK(got == 0);
    trimtab_plan_free(plan);

    /* Snapshots round-trip; a truncated one is rejected. */
    size_t len = 0;
    CHECK(trimtab_topology_snapshot(t, NULL, 0, &len) == TRIMTAB_STATUS_BUFFER_TOO_SHORT);
    char *snap = malloc(len + 1);
    CHECK(snap != NULL);
    CHECK_OK(trimtab_topology_snapshot(t, snap, len + 1, &len));
    trimtab_topology *t2 = NULL;
    CHECK(trimtab_topology_from_snapshot(snap, len / 2, &t2) == TRIMTAB_STATUS_SNAPSHOT_INVALID);
    CHECK(t2 == NULL);
    CHECK_OK(trimtab_topology_from_snapshot(snap, len, &t2));
    free(snap);
    CHECK(trimtab_placement_snapshot(p, NULL, 0, &len) == TRIMTAB_STATUS_BUFFER_TOO_SHORT);
    snap = malloc(len + 1);
    CHECK(snap != NULL);
    CHECK_OK(trimtab_placement_snapshot(p, snap, len + 1, &len));
    trimtab_placement *p2 = NULL;
    CHECK_OK(trimtab_placement_from_snapshot(snap, len, t2, &p2));
    free(snap);
    trimtab_plan *same = NULL;
    CHECK_OK(trimtab_placement_plan(p, p2, &same));
    CHECK_OK(trimtab_plan_summary_get(same, &sum));
    CHECK(sum.moves == 0);
    trimtab_plan_free(same);

    /* NULL is fine for every free. */
    trimtab_plan_free(NULL);
    trimtab_placement_free(NULL);
    trimtab_topology_free(NULL);
    trimtab_placement_free(p2);
    trimtab_placement_free(p);
    trimtab_topology_free(t2);
    trimtab_topology_free(t);
    return 0;
}
