use bytes::Bytes;
use proptest::prelude::*;

use super::*;

fn args(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn parse(words: &[&str]) -> Result<Command, Reply> {
    Command::parse(args(words), &CommandLimits::default())
}

fn error(words: &[&str]) -> String {
    match parse(words) {
        Err(Reply::Error(text)) => text,
        other => panic!("{words:?} parsed as {other:?}"),
    }
}

#[test]
fn wrong_arity_uses_redis_wording() {
    assert_eq!(
        error(&["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        error(&["get", "a", "b"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        error(&["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
    assert_eq!(
        error(&["DEL"]),
        "ERR wrong number of arguments for 'del' command"
    );
    assert_eq!(
        error(&["PING", "a", "b"]),
        "ERR wrong number of arguments for 'ping' command"
    );
    assert_eq!(
        error(&["CLIENT", "SETNAME"]),
        "ERR wrong number of arguments for 'client|setname' command"
    );
}

#[test]
fn unknown_command_lists_its_first_arguments() {
    assert_eq!(
        error(&["foo", "a", "b"]),
        "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        error(&["foo"]),
        "ERR unknown command 'foo', with args beginning with: "
    );
    let long = "x".repeat(300);
    let text = error(&["foo", &long, "next"]);
    assert!(text.len() < 300, "{} bytes", text.len());
    assert!(!text.contains("next"));
}

#[test]
fn oversized_keys_and_values_are_refused() {
    let key = "k".repeat(257);
    assert_eq!(error(&["GET", &key]), "ERR key too large");
    assert_eq!(error(&["SET", &key, "v"]), "ERR key too large");
    assert_eq!(error(&["DEL", "ok", &key]), "ERR key too large");
    let value = "v".repeat(65_537);
    assert_eq!(error(&["SET", "k", &value]), "ERR value too large");
    assert!(parse(&["SET", &"k".repeat(256), &"v".repeat(65_536)]).is_ok());
}

#[test]
fn set_options_are_parsed_or_refused() {
    let set = |words: &[&str]| match parse(words) {
        Ok(Command::Node(Request::Set(set))) => set,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        set(&["SET", "k", "v", "nx"]).condition,
        SetCondition::IfAbsent
    );
    assert_eq!(
        set(&["SET", "k", "v", "XX", "GET"]).condition,
        SetCondition::IfPresent
    );
    assert!(set(&["SET", "k", "v", "GET"]).get);
    assert_eq!(
        set(&["SET", "k", "v", "KEEPTTL"]).condition,
        SetCondition::Always
    );
    for words in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "EX", "10"],
        &["SET", "k", "v", "PX", "10"],
        &["SET", "k", "v", "EXAT", "10"],
        &["SET", "k", "v", "PXAT", "10"],
        &["SET", "k", "v", "bogus"],
    ] {
        assert_eq!(error(words), "ERR syntax error", "{words:?}");
    }
}

#[test]
fn select_accepts_only_database_zero() {
    assert_eq!(parse(&["SELECT", "0"]), Ok(Command::Select));
    assert_eq!(error(&["SELECT", "3"]), "ERR DB index is out of range");
    assert_eq!(
        error(&["SELECT", "x"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn names_are_case_insensitive() {
    assert_eq!(parse(&["gEt", "k"]), parse(&["GET", "k"]));
    assert_eq!(parse(&["ping"]), Ok(Command::Ping(None)));
}

fn arb_key() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..16).prop_map(Bytes::from)
}

fn arb_command() -> impl Strategy<Value = Command> {
    let condition = prop_oneof![
        Just(SetCondition::Always),
        Just(SetCondition::IfAbsent),
        Just(SetCondition::IfPresent)
    ];
    prop_oneof![
        arb_key().prop_map(|key| Command::Node(Request::Get { key })),
        (arb_key(), arb_key(), condition, any::<bool>()).prop_map(
            |(key, value, condition, get)| {
                Command::Node(Request::Set(SetRequest {
                    key,
                    value,
                    condition,
                    get,
                }))
            }
        ),
        proptest::collection::vec(arb_key(), 1..4)
            .prop_map(|keys| Command::Node(Request::Del { keys })),
        proptest::collection::vec(arb_key(), 1..4)
            .prop_map(|keys| Command::Node(Request::Exists { keys })),
        Just(Command::Node(Request::DbSize)),
        proptest::option::of(arb_key()).prop_map(Command::Ping),
    ]
}

proptest! {
    #[test]
    fn parse_inverts_into_args(command in arb_command()) {
        let args = command.into_args().expect("data commands have arguments");
        prop_assert_eq!(Command::parse(args, &CommandLimits::default()), Ok(command));
    }

    #[test]
    fn arbitrary_arguments_never_panic(words in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..10), 0..6)) {
        let _ = Command::parse(words.into_iter().map(Bytes::from).collect(), &CommandLimits::default());
    }
}
