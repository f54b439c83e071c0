/* The migration scheduler's C API: push, tick, grants, progress, completion, failure with
 * retry, cancel, supersede, status, and the error paths. */
#include <string.h>
#include "check.h"

static trimtab_move mv(uint32_t pg, uint32_t from, uint32_t to, uint64_t bytes) {
    trimtab_move m;
    memset(&m, 0, sizeof m);
    m.pg = pg;
    m.kind = TRIMTAB_TASK_KIND_REBALANCE;
    m.priority = 5;
    m.from_node = from;
    m.to_node = to;
    m.from_device = from * 10;
    m.to_device = to * 10;
    m.bytes = bytes;
    m.importance = -1;
    return m;
}

static int poll_event(trimtab_scheduler *s, trimtab_migration_event *e) {
    bool has = false;
    CHECK_OK(trimtab_scheduler_poll_event(s, e, &has));
    return has;
}

int main(void) {
    trimtab_scheduler_config cfg;
    CHECK(trimtab_scheduler_config_default(NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK_OK(trimtab_scheduler_config_default(&cfg));
    CHECK(cfg.huge_pages);
    cfg.huge_pages = false;
    cfg.node_out.rate = 1000;
    cfg.node_out.burst = 100;
    cfg.node_in = cfg.node_out;
    cfg.max_out_per_node = 1;
    cfg.max_in_per_node = 1;
    cfg.max_retries = 1;
    cfg.max_tasks = 4;

    trimtab_scheduler *s = NULL;
    trimtab_scheduler_config bad = cfg;
    bad.policy = 9;
    CHECK(trimtab_scheduler_new(&bad, 0, &s) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    bad = cfg;
    bad.max_running = 0;
    CHECK(trimtab_scheduler_new(&bad, 0, &s) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK(trimtab_scheduler_new(NULL, 0, &s) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK(s == NULL);
    CHECK_OK(trimtab_scheduler_new(&cfg, 0, &s));

    uint64_t a = 0, b = 0;
    trimtab_move m = mv(1, 1, 2, 150);
    CHECK_OK(trimtab_scheduler_push(s, &m, 0, &a));
    CHECK(trimtab_scheduler_push(s, NULL, 0, &a) == TRIMTAB_STATUS_NULL_PARAMETER);
    trimtab_move badm = mv(2, 1, 2, 0);
    CHECK(trimtab_scheduler_push(s, &badm, 0, &b) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    badm = mv(2, 1, 2, 10);
    badm.kind = 77;
    CHECK(trimtab_scheduler_push(s, &badm, 0, &b) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    badm = mv(2, 1, 2, 10);
    badm.importance = 5000;
    CHECK(trimtab_scheduler_push(s, &badm, 0, &b) == TRIMTAB_STATUS_INVALID_ARGUMENT);

    /* Start, grant, progress, complete. */
    CHECK_OK(trimtab_scheduler_tick(s, 0));
    trimtab_migration_event e;
    CHECK(poll_event(s, &e));
    CHECK(e.kind == TRIMTAB_MIGRATION_EVENT_KIND_STARTED && e.id == a);
    CHECK(!poll_event(s, &e));
    trimtab_grant g;
    bool has = false;
    CHECK_OK(trimtab_scheduler_poll_grant(s, &g, &has));
    CHECK(has && g.id == a && g.bytes == 100);
    CHECK(trimtab_scheduler_report_progress(s, a, 101, 0) == TRIMTAB_STATUS_MIGRATION_INVALID_PROGRESS);
    CHECK_OK(trimtab_scheduler_report_progress(s, a, 100, 0));
    CHECK_OK(trimtab_scheduler_tick(s, 100000000ull));
    CHECK_OK(trimtab_scheduler_poll_grant(s, &g, &has));
    CHECK(has && g.bytes == 50);
    CHECK_OK(trimtab_scheduler_poll_grant(s, &g, &has));
    CHECK(!has);
    CHECK_OK(trimtab_scheduler_report_complete(s, a, 100000000ull));
    CHECK(poll_event(s, &e));
    CHECK(e.kind == TRIMTAB_MIGRATION_EVENT_KIND_COMPLETED && e.id == a);
    CHECK(trimtab_scheduler_cancel(s, a, 0) == TRIMTAB_STATUS_NOT_FOUND);

    /* A plan of two moves, the second supersedes nothing; failure then retry then failure. */
    trimtab_move plan[2] = {mv(10, 3, 4, 50), mv(11, 5, 6, 50)};
    uint64_t ids[2] = {0, 0};
    size_t pushed = 0;
    CHECK_OK(trimtab_scheduler_push_plan(s, plan, 2, 1000000000ull, ids, &pushed));
    CHECK(pushed == 2);
    CHECK(trimtab_scheduler_push_plan(s, plan, 2, 0, NULL, &pushed) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK(trimtab_scheduler_report_progress(s, ids[0], 1, 0) == TRIMTAB_STATUS_MIGRATION_NOT_RUNNING);
    CHECK_OK(trimtab_scheduler_set_priority(s, ids[1], 9, 1000000000ull));
    CHECK(trimtab_scheduler_set_priority(s, ids[1], 0, 0) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK_OK(trimtab_scheduler_set_policy(s, TRIMTAB_POLICY_DEADLINE));
    CHECK(trimtab_scheduler_set_policy(s, 42) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    CHECK_OK(trimtab_scheduler_tick(s, 1000000000ull));
    while (poll_event(s, &e)) {
        CHECK(e.kind == TRIMTAB_MIGRATION_EVENT_KIND_STARTED);
    }
    while (1) {
        CHECK_OK(trimtab_scheduler_poll_grant(s, &g, &has));
        if (!has) break;
    }
    CHECK_OK(trimtab_scheduler_report_failure(s, ids[0], 17, 1000000000ull));
    CHECK(poll_event(s, &e));
    CHECK(e.kind == TRIMTAB_MIGRATION_EVENT_KIND_RETRYING && e.reason == 17 && e.attempt == 1);
    CHECK(e.at_ns == 2000000000ull);
    bool hasd = false;
    uint64_t at = 0;
    CHECK_OK(trimtab_scheduler_next_deadline(s, &at, &hasd));
    CHECK(hasd);
    CHECK_OK(trimtab_scheduler_tick(s, 2000000000ull));
    CHECK(poll_event(s, &e));
    CHECK(e.kind == TRIMTAB_MIGRATION_EVENT_KIND_STARTED && e.id == ids[0]);
    CHECK_OK(trimtab_scheduler_report_failure(s, ids[0], 18, 2000000000ull));
    CHECK(poll_event(s, &e));
    CHECK(e.kind == TRIMTAB_MIGRATION_EVENT_KIND_FAILED && e.reason == 18);

    /* Supersede and cancel. */
    trimtab_move again = mv(11, 5, 7, 50);
    uint64_t c = 0;
    CHECK_OK(trimtab_scheduler_push(s, &again, 2000000000ull, &c));
    CHECK(poll_event(s, &e));
    CHECK(e.kind == TRIMTAB_MIGRATION_EVENT_KIND_SUPERSEDED && e.id == ids[1] && e.other_id == c);
    CHECK_OK(trimtab_scheduler_cancel(s, c, 2000000000ull));
    CHECK(poll_event(s, &e));
    CHECK(e.kind == TRIMTAB_MIGRATION_EVENT_KIND_CANCELLED && e.id == c);

    /* A batch cancel: all or nothing. */
    trimtab_move two[2] = {mv(20, 1, 2, 30), mv(21, 2, 1, 30)};
    uint64_t d[2] = {0, 0};
    pushed = 0;
    CHECK_OK(trimtab_scheduler_push_plan(s, two, 2, 2000000000ull, d, &pushed));
    CHECK(pushed == 2);
    uint64_t twice[2] = {d[0], d[0]};
    CHECK(trimtab_scheduler_cancel_many(s, twice, 2, 2000000000ull) == TRIMTAB_STATUS_INVALID_ARGUMENT);
    uint64_t unknown[2] = {d[0], 12345};
    CHECK(trimtab_scheduler_cancel_many(s, unknown, 2, 2000000000ull) == TRIMTAB_STATUS_NOT_FOUND);
    CHECK(trimtab_scheduler_cancel_many(s, NULL, 1, 0) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK(trimtab_scheduler_cancel_many(NULL, d, 2, 0) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK_OK(trimtab_scheduler_cancel_many(s, NULL, 0, 2000000000ull));
    CHECK(!poll_event(s, &e)); /* the refused batches cancelled nothing */
    CHECK_OK(trimtab_scheduler_cancel_many(s, d, 2, 2000000000ull));
    for (int i = 0; i < 2; i++) {
        CHECK(poll_event(s, &e));
        CHECK(e.kind == TRIMTAB_MIGRATION_EVENT_KIND_CANCELLED && e.id == d[i]);
    }

    trimtab_migration_status st;
    CHECK_OK(trimtab_scheduler_status(s, &st));
    CHECK(st.completed == 1 && st.failed == 1 && st.cancelled == 3 && st.superseded == 1);
    CHECK(st.queued == 0 && st.running == 0 && st.bytes_left == 0);
    CHECK(trimtab_scheduler_status(s, NULL) == TRIMTAB_STATUS_NULL_PARAMETER);
    CHECK(trimtab_scheduler_status(NULL, &st) == TRIMTAB_STATUS_NULL_PARAMETER);

    trimtab_limit lim = {500, 50};
    CHECK_OK(trimtab_scheduler_set_node_limits(s, 1, lim, lim, 3000000000ull));
    CHECK(trimtab_scheduler_set_node_limits(s, 99, lim, lim, 0) == TRIMTAB_STATUS_NOT_FOUND);
    trimtab_load_metrics lm = {0.5, 0.5, 0.0, -1.0};
    CHECK_OK(trimtab_scheduler_report_load(s, true, 1, &lm, 3000000000ull));
    lm.cpu = 2.0;
    CHECK(trimtab_scheduler_report_load(s, false, 0, &lm, 0) == TRIMTAB_STATUS_INVALID_ARGUMENT);

    trimtab_scheduler_free(s);
    trimtab_scheduler_free(NULL);
    return 0;
}
