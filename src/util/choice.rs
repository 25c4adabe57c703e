//! Closed choices in the config (`motion.lipsync`, `audio.source`, `output.encoder`, …) as enums
//! that read and write as their config words: the word list lives in one place, a wrong word is
//! refused while parsing with the key, the words allowed and the word found, and code compares
//! variants instead of strings.

/// `"a", "b" or "c"`.
pub fn or_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// Declares `enum NAME for "config.key" { Variant = "word", … }` with `as_str`, `ALL`,
/// `Display`, `FromStr` and serde as the word.
#[macro_export]
macro_rules! choice {
    ($(#[$m:meta])* $vis:vis enum $name:ident for $key:literal { $($(#[$vm:meta])* $var:ident = $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every choice, in the documented order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The config word.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $word),+ }
            }

            /// The words allowed, for messages: `"a", "b" or "c"`.
            pub fn expected() -> String {
                $crate::util::choice::or_list(&[$($word),+])
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            /// The error names the key, the words allowed and the word found.
            fn from_str(s: &str) -> std::result::Result<$name, String> {
                match s {
                    $($word => Ok($name::$var),)+
                    _ => Err(format!("{}: expected {}, found \"{}\"", $key, $name::expected(), $crate::error::cut(s, 200))),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<$name, D::Error> {
                let word = <String as serde::Deserialize>::deserialize(d)?;
                word.parse().map_err(<D::Error as serde::de::Error>::custom)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::choice! {
        enum Fruit for "fruit.kind" { Apple = "apple", Pear = "pear", Plum = "plum" }
    }

    #[test]
    fn words_round_trip_and_a_wrong_word_names_key_and_choices() {
        for f in Fruit::ALL {
            assert_eq!(f.as_str().parse::<Fruit>(), Ok(*f));
        }
        assert_eq!("kiwi".parse::<Fruit>().unwrap_err(), "fruit.kind: expected \"apple\", \"pear\" or \"plum\", found \"kiwi\"");
        #[derive(serde::Deserialize, serde::Serialize, Debug)]
        struct T {
            kind: Fruit,
        }
        let t: T = toml::from_str("kind = \"pear\"").unwrap();
        assert_eq!(t.kind, Fruit::Pear);
        assert_eq!(toml::to_string(&t).unwrap().trim(), "kind = \"pear\"");
        let e = toml::from_str::<T>("kind = \"fig\"").unwrap_err();
        assert!(e.message().contains("fruit.kind: expected"), "{e}");
        assert_eq!(super::or_list(&["a"]), "\"a\"");
    }
}
