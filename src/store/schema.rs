//! The diesel table definitions shared by both backends.
//!
//! Hand-written to match `migrations/sqlite` and `migrations/postgres`: only SQL types both backends
//! share (Text, BigInt, Integer, Bool, Double, Timestamp) appear here, so every query compiles through
//! `AnyConnection`.

diesel::table! {
    tournaments (id) {
        id -> Text,
        tournament_type -> Text,
        status -> Text,
        base_winner_hotkey -> Nullable<Text>,
        winner_hotkey -> Nullable<Text>,
        winning_performance_difference -> Nullable<Double>,
        champion_wins -> Integer,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
        cancel_reason -> Nullable<Text>,
        track -> Text,
    }
}

diesel::table! {
    participants (tournament_id, hotkey) {
        tournament_id -> Text,
        hotkey -> Text,
        coldkey -> Nullable<Text>,
        repo_url -> Text,
        commit_hash -> Text,
        is_house -> Bool,
        admission -> Text,
        admission_reason -> Text,
        eliminated_in_round -> Nullable<Integer>,
        fee_rao -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    rounds (id) {
        id -> Text,
        tournament_id -> Text,
        number -> Integer,
        kind -> Text,
        is_final -> Bool,
        status -> Text,
        seed -> BigInt,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    groups (id) {
        id -> Text,
        round_id -> Text,
        number -> Integer,
    }
}

diesel::table! {
    group_members (group_id, hotkey) {
        group_id -> Text,
        hotkey -> Text,
    }
}

diesel::table! {
    pairs (id) {
        id -> Text,
        round_id -> Text,
        number -> Integer,
        hotkey_a -> Text,
        hotkey_b -> Text,
        winner -> Nullable<Text>,
    }
}

diesel::table! {
    tasks (id) {
        id -> Text,
        tournament_id -> Text,
        round_id -> Text,
        group_id -> Nullable<Text>,
        pair_id -> Nullable<Text>,
        task_type -> Text,
        model -> Text,
        model_params -> Nullable<BigInt>,
        dataset -> Text,
        dataset_rows -> Nullable<BigInt>,
        dataset_type_json -> Text,
        model_type -> Nullable<Text>,
        hours_to_complete -> Double,
        replaces_task_id -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    trainings (task_id, hotkey) {
        task_id -> Text,
        hotkey -> Text,
        status -> Text,
        attempts -> Integer,
        failure_reason -> Nullable<Text>,
        test_loss -> Nullable<Double>,
        synth_loss -> Nullable<Double>,
        updated_at -> Timestamp,
        evaluation -> Nullable<Text>,
    }
}

diesel::table! {
    training_attempts (task_id, hotkey, attempt) {
        task_id -> Text,
        hotkey -> Text,
        attempt -> Integer,
        node_id -> Nullable<Text>,
        gpu_ids -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        reason -> Nullable<Text>,
        image -> Nullable<Text>,
    }
}

diesel::table! {
    trainer_nodes (id) {
        id -> Text,
        address -> Text,
        fenced -> Bool,
        last_seen -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    gpus (node_id, gpu_index) {
        node_id -> Text,
        gpu_index -> Integer,
        class -> Text,
        model_name -> Text,
        vram_gb -> Integer,
        holder -> Nullable<Text>,
    }
}

diesel::table! {
    miners (hotkey) {
        hotkey -> Text,
        coldkey -> Text,
        address -> Text,
        stake -> Double,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    coldkey_balances (coldkey) {
        coldkey -> Text,
        balance_rao -> BigInt,
    }
}

diesel::table! {
    ledger_events (id) {
        id -> BigInt,
        coldkey -> Text,
        kind -> Text,
        amount_rao -> BigInt,
        tournament_id -> Nullable<Text>,
        hotkey -> Nullable<Text>,
        reference -> Nullable<Text>,
        idempotency_key -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    transitions (id) {
        id -> BigInt,
        entity_kind -> Text,
        entity_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        cause -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    meta (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    node_tasks (task_id, hotkey) {
        task_id -> Text,
        hotkey -> Text,
        attempt -> Integer,
        request -> Text,
        gpu_ids -> Text,
        status -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        logs -> Text,
        test_loss -> Nullable<Double>,
        synth_loss -> Nullable<Double>,
        failure_kind -> Nullable<Text>,
        evaluation -> Nullable<Text>,
    }
}

diesel::table! {
    added_nodes (id) {
        id -> Text,
        url -> Text,
        token -> Text,
        draining -> Bool,
        created_at -> Timestamp,
    }
}

diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(groups -> rounds (round_id));
diesel::joinable!(pairs -> rounds (round_id));
diesel::joinable!(gpus -> trainer_nodes (node_id));

diesel::allow_tables_to_appear_in_same_query!(
    tournaments,
    participants,
    rounds,
    groups,
    group_members,
    pairs,
    tasks,
    trainings,
    training_attempts,
    trainer_nodes,
    gpus,
    miners,
    coldkey_balances,
    ledger_events,
    transitions,
    meta,
    node_tasks,
    added_nodes,
);
