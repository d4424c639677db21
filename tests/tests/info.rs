//! INFO and CONFIG against a real three-node cluster: the INFO text parsed strictly (every
//! line `field:value` CRLF, `# Title` sections, one empty line between them), role:master on
//! exactly one node, commandstats moving after commands, CONFIG GET/SET as Redis answers.

use std::time::Duration;

use seshat_tests::Cluster;

/// The sections of an INFO text as (title, fields), asserting Redis's framing.
fn sections(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    assert!(
        text.ends_with("\r\n") && !text.ends_with("\r\n\r\n"),
        "{text:?}"
    );
    text.strip_suffix("\r\n")
        .unwrap()
        .split("\r\n\r\n")
        .map(|block| {
            let mut lines = block.split("\r\n");
            let title = lines
                .next()
                .unwrap()
                .strip_prefix("# ")
                .expect("a # header");
            let fields = lines
                .map(|line| {
                    assert!(!line.contains('\n'), "bare LF in {line:?}");
                    let (field, value) = line.split_once(':').expect("field:value");
                    (field.to_owned(), value.to_owned())
                })
                .collect();
            (title.to_owned(), fields)
        })
        .collect()
}

fn field(text: &str, name: &str) -> Option<String> {
    sections(text)
        .into_iter()
        .flat_map(|(_, fields)| fields)
        .find(|(field, _)| field == name)
        .map(|(_, value)| value)
}

fn info(connection: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(connection).unwrap()
}

#[test]
fn info_and_config_answer_as_redis_does() {
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let mut masters = 0;
    for i in 0..3 {
        let mut connection = cluster.client(i);
        let text = info(&mut connection, "everything");
        let titles: Vec<String> = sections(&text).into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            titles,
            [
                "Server",
                "Clients",
                "Memory",
                "Persistence",
                "Stats",
                "Replication",
                "CPU",
                "Modules",
                "Commandstats",
                "Errorstats",
                "Cluster",
                "Keyspace",
                "Raft"
            ]
        );
        let port = cluster.nodes[i].client_port.to_string();
        assert_eq!(field(&text, "tcp_port"), Some(port));
        let pid: u32 = field(&text, "process_id").unwrap().parse().unwrap();
        assert!(pid > 0);
        assert!(field(&text, "executable").unwrap().ends_with("seshat"));
        assert!(field(&text, "config_file").unwrap().ends_with(".toml"));
        assert!(
            field(&text, "used_memory_rss")
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 0
        );
        assert!(
            field(&text, "used_cpu_user")
                .unwrap()
                .parse::<f64>()
                .unwrap()
                > 0.0
        );
        match field(&text, "role").as_deref() {
            Some("master") => {
                masters += 1;
                assert_eq!(i, leader);
                assert_eq!(field(&text, "connected_slaves").as_deref(), Some("2"));
            }
            Some("slave") => {
                let leader_port = cluster.nodes[leader].client_port.to_string();
                assert_eq!(field(&text, "master_port"), Some(leader_port));
            }
            other => panic!("role {other:?}"),
        }
    }
    assert_eq!(masters, 1);

    // Commandstats and errorstats move after commands, and CONFIG RESETSTAT clears them.
    let mut connection = cluster.client(leader);
    let calls = |connection: &mut redis::Connection| -> u64 {
        field(&info(connection, "commandstats"), "cmdstat_set").map_or(0, |line| {
            line["calls=".len()..line.find(',').unwrap()]
                .parse()
                .unwrap()
        })
    };
    let before = calls(&mut connection);
    for i in 0..3 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .query(&mut connection)
            .unwrap();
    }
    assert_eq!(calls(&mut connection), before + 3);
    let _ = redis::cmd("GET").query::<()>(&mut connection);
    let stats = info(&mut connection, "commandstats");
    let get = field(&stats, "cmdstat_get").unwrap();
    assert!(get.contains("rejected_calls=1"), "{get}");
    assert!(field(&info(&mut connection, "errorstats"), "errorstat_ERR").is_some());
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut connection)
        .unwrap();
    assert_eq!(calls(&mut connection), 0);

    // CONFIG GET and SET.
    let values: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query(&mut connection)
        .unwrap();
    assert_eq!(values, ["appendonly", "yes"]);
    let all: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("*")
        .query(&mut connection)
        .unwrap();
    assert!(all.chunks(2).any(|pair| pair[0] == "port"));
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("limits-request-timeout-secs")
        .arg("9")
        .query(&mut connection)
        .unwrap();
    let values: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("limits-request-timeout-secs")
        .query(&mut connection)
        .unwrap();
    assert_eq!(values[1], "9");
    let error = redis::cmd("CONFIG")
        .arg("SET")
        .arg("port")
        .arg("1")
        .query::<()>(&mut connection)
        .unwrap_err();
    assert!(
        error.to_string().contains("can't set immutable config"),
        "{error}"
    );
}
