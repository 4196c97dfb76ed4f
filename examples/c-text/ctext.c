// The ctext tool: byte-level text utilities (see wit/ctext.wit).
//
// wit-bindgen generates ctext.h from the WIT: one `exports_ctext_NAME`
// function per exported function to implement here. Arguments are owned by
// the callee (free them); results are allocated with malloc and freed by
// the generated code after they are returned. A WIT `result<T, E>` is a
// `bool` return: true with *ret set, or false with *err set.

#include <stdlib.h>
#include <string.h>

#include "ctext.h"

void exports_ctext_rot13(ctext_string_t *text, ctext_string_t *ret) {
  for (size_t i = 0; i < text->len; i++) {
    uint8_t c = text->ptr[i];
    if (c >= 'a' && c <= 'z') {
      text->ptr[i] = 'a' + (c - 'a' + 13) % 26;
    } else if (c >= 'A' && c <= 'Z') {
      text->ptr[i] = 'A' + (c - 'A' + 13) % 26;
    }
  }
  // The argument is ours: hand its buffer back as the result.
  *ret = *text;
}

uint32_t exports_ctext_crc32(ctext_string_t *text) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < text->len; i++) {
    crc ^= text->ptr[i];
    for (int bit = 0; bit < 8; bit++) {
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
  }
  ctext_string_free(text);
  return ~crc;
}

static const char ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void exports_ctext_base64_encode(ctext_string_t *text, ctext_string_t *ret) {
  size_t len = text->len, out_len = 4 * ((len + 2) / 3), o = 0;
  char *out = malloc(out_len ? out_len : 1);
  for (size_t i = 0; i < len; i += 3) {
    uint32_t chunk = (uint32_t)text->ptr[i] << 16;
    if (i + 1 < len) chunk |= (uint32_t)text->ptr[i + 1] << 8;
    if (i + 2 < len) chunk |= text->ptr[i + 2];
    out[o++] = ALPHABET[(chunk >> 18) & 63];
    out[o++] = ALPHABET[(chunk >> 12) & 63];
    out[o++] = i + 1 < len ? ALPHABET[(chunk >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? ALPHABET[chunk & 63] : '=';
  }
  ret->ptr = (uint8_t *)out;
  ret->len = out_len;
  ctext_string_free(text);
}

static int sextet(uint8_t c) {
  const char *at = c ? strchr(ALPHABET, c) : NULL;
  return at ? (int)(at - ALPHABET) : -1;
}

// Well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF): a
// WIT string must be, and the host would refuse anything else.
static int valid_utf8(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) { i++; continue; }
    else if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return 0;
    for (size_t k = 1; k <= n; k++) {
      if (i + k >= len || (s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += n + 1;
  }
  return 1;
}

bool exports_ctext_base64_decode(ctext_string_t *data, ctext_string_t *ret, ctext_string_t *err) {
  size_t len = data->len;
  while (len > 0 && data->ptr[len - 1] == '=') len--;
  uint8_t *out = malloc(len * 3 / 4 + 1);
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = sextet(data->ptr[i]);
    if (v < 0) {
      free(out);
      ctext_string_free(data);
      ctext_string_dup(err, "not Base64: it may hold only A-Z, a-z, 0-9, + and /, then = padding");
      return false;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  ctext_string_free(data);
  if (len % 4 == 1) {
    free(out);
    ctext_string_dup(err, "not Base64: one character too many or too few");
    return false;
  }
  if (!valid_utf8(out, o)) {
    free(out);
    ctext_string_dup(err, "the decoded bytes are not UTF-8 text");
    return false;
  }
  ret->ptr = out;
  ret->len = o;
  return true;
}
