//! Which bytes an import accepts. Exports are UTF-8 (a byte-order mark, as
//! Excel's "CSV UTF-8" writes, is dropped). Excel's plain "CSV" on Windows
//! writes Windows-1252 instead; that is decoded only when asked for, since
//! guessing would silently garble names (and a file that is valid UTF-8 is
//! read as UTF-8 even then). Anything else is refused with the line of the
//! first byte that is not UTF-8.

use serde::{Deserialize, Serialize};

use super::RowError;

/// How the file's bytes are to be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// UTF-8, with or without a byte-order mark (the default).
    #[default]
    Utf8,
    /// Windows-1252 ("ANSI", Western European), e.g. from older Excel.
    Windows1252,
}

impl Encoding {
    /// Parses `utf-8` or `windows-1252` (also `utf8`, `cp1252`).
    pub fn parse(value: &str) -> Option<Encoding> {
        match value.trim().to_lowercase().as_str() {
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            "windows-1252" | "cp1252" => Some(Encoding::Windows1252),
            _ => None,
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The file's text. A UTF-8 byte-order mark is dropped whatever `encoding`
/// says (it settles the question); UTF-16 is refused.
pub fn decode(mut bytes: Vec<u8>, encoding: Encoding) -> Result<String, RowError> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(RowError::new(
            1,
            None,
            "the file is UTF-16 (Excel's \"Unicode text\"); save it as \"CSV UTF-8\" and import that",
        ));
    }
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
        return utf8(bytes);
    }
    match encoding {
        Encoding::Utf8 => utf8(bytes),
        // A file that is valid UTF-8 is UTF-8 whatever was chosen: real
        // Windows-1252 text is practically never valid UTF-8 beyond ASCII,
        // and reading UTF-8 as Windows-1252 would garble every accent.
        Encoding::Windows1252 => Ok(String::from_utf8(bytes).unwrap_or_else(|not_utf8| {
            encoding_rs::WINDOWS_1252.decode_without_bom_handling(not_utf8.as_bytes()).0.into_owned()
        })),
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, RowError> {
    String::from_utf8(bytes).map_err(|error| {
        let at = error.utf8_error().valid_up_to();
        let bytes = error.as_bytes();
        let line = bytes[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let byte = bytes.get(at).copied().unwrap_or_default();
        RowError::new(
            line,
            None,
            format!(
                "is not UTF-8 (byte 0x{byte:02X}); save the file as \"CSV UTF-8\", \
                 or import it with the Windows-1252 encoding if it came from Excel on Windows"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_is_dropped_and_latin1_bytes_are_refused_naming_the_line() {
        assert_eq!(decode(b"\xEF\xBB\xBFa,b\n".to_vec(), Encoding::Utf8).ok().as_deref(), Some("a,b\n"));
        let error = decode(b"a,b\n1,2\nM\xFCller,3\n".to_vec(), Encoding::Utf8).err();
        let error = error.map(|e| (e.line, e.reason.contains("0xFC")));
        assert_eq!(error, Some((3, true)));
    }

    #[test]
    fn windows_1252_is_decoded_when_asked_for_but_never_garbles_utf8() {
        let text = decode(b"name\nM\xFCller \x80\n".to_vec(), Encoding::Windows1252).ok();
        assert_eq!(text.as_deref(), Some("name\nMüller €\n"));
        let text = decode("name\nMüller\n".as_bytes().to_vec(), Encoding::Windows1252).ok();
        assert_eq!(text.as_deref(), Some("name\nMüller\n"));
    }
}
