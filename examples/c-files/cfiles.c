// The cfiles tool: lists, reads and searches the directories its policy
// grants (see wit/cfiles.wit). It opens paths with plain wasi-libc calls;
// weld's sandbox decides what exists: a path outside every grant is not
// there for the tool, and the refusal is audited.
//
// wit-bindgen generates cfiles.h; each `exports_cfiles_NAME` is implemented
// here. Arguments are owned by the callee (freed here); results are
// malloc'ed and freed by the generated code. A `result<T, string>` is a
// bool: true with *ret set, false with *err set.

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfiles.h"

enum { MAX_DEPTH = 8, MAX_HITS = 100, MAX_LINE = 200 };

// A NUL-terminated copy of a WIT string (which is not terminated).
static char *c_string(const cfiles_string_t *s) {
  char *out = malloc(s->len + 1);
  memcpy(out, s->ptr, s->len);
  out[s->len] = '\0';
  return out;
}

static void set_copy(cfiles_string_t *out, const char *bytes, size_t len) {
  out->ptr = malloc(len ? len : 1);
  memcpy(out->ptr, bytes, len);
  out->len = len;
}

// "PATH: what went wrong" as the tool error.
static bool fail(cfiles_string_t *err, const char *path, const char *what) {
  size_t len = strlen(path) + strlen(what) + 3;
  char *text = malloc(len);
  snprintf(text, len, "%s: %s", path, what);
  err->ptr = (uint8_t *)text;
  err->len = strlen(text);
  return false;
}

static int by_name(const void *a, const void *b) {
  const cfiles_entry_t *x = a, *y = b;
  size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
  int c = memcmp(x->name.ptr, y->name.ptr, n);
  return c ? c : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

bool exports_cfiles_list_dir(cfiles_string_t *directory, cfiles_list_entry_t *ret,
                             cfiles_string_t *err) {
  char *path = c_string(directory);
  cfiles_string_free(directory);
  DIR *dir = opendir(path);
  if (!dir) {
    bool r = fail(err, path, strerror(errno));
    free(path);
    return r;
  }
  size_t len = 0, cap = 16;
  cfiles_entry_t *entries = malloc(cap * sizeof *entries);
  struct dirent *d;
  while ((d = readdir(dir))) {
    if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..")) continue;
    if (len == cap) entries = realloc(entries, (cap *= 2) * sizeof *entries);
    size_t full_len = strlen(path) + strlen(d->d_name) + 2;
    char *full = malloc(full_len);
    snprintf(full, full_len, "%s/%s", path, d->d_name);
    struct stat st;
    bool is_dir = false;
    uint64_t size = 0;
    if (stat(full, &st) == 0) {
      is_dir = S_ISDIR(st.st_mode);
      size = is_dir ? 0 : (uint64_t)st.st_size;
    }
    free(full);
    set_copy(&entries[len].name, d->d_name, strlen(d->d_name));
    entries[len].is_dir = is_dir;
    entries[len].size = size;
    len++;
  }
  closedir(dir);
  free(path);
  qsort(entries, len, sizeof *entries, by_name);
  ret->ptr = entries;
  ret->len = len;
  return true;
}

bool exports_cfiles_read_text(cfiles_string_t *path_arg, uint32_t max_bytes,
                              cfiles_string_t *ret, cfiles_string_t *err) {
  char *path = c_string(path_arg);
  cfiles_string_free(path_arg);
  FILE *file = fopen(path, "rb");
  if (!file) {
    bool r = fail(err, path, strerror(errno));
    free(path);
    return r;
  }
  // One byte more than allowed tells a file that is too long.
  char *buf = malloc((size_t)max_bytes + 1);
  size_t n = fread(buf, 1, (size_t)max_bytes + 1, file);
  bool read_error = ferror(file);
  fclose(file);
  bool r;
  if (read_error) {
    r = fail(err, path, "could not be read");
    free(buf);
  } else if (n > max_bytes) {
    r = fail(err, path, "is longer than max-bytes");
    free(buf);
  } else {
    ret->ptr = (uint8_t *)buf;
    ret->len = n;
    r = true;
  }
  free(path);
  return r;
}

typedef struct {
  cfiles_hit_t *ptr;
  size_t len, cap;
} hits_t;

static void search_file(const char *path, const char *needle, hits_t *hits) {
  FILE *file = fopen(path, "rb");
  if (!file) return;
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  uint32_t number = 0;
  while (hits->len < MAX_HITS && (got = getline(&line, &cap, file)) >= 0) {
    number++;
    if (got > 0 && line[got - 1] == '\n') line[--got] = '\0';
    if (!strstr(line, needle)) continue;
    if (hits->len == hits->cap) {
      hits->cap = hits->cap ? hits->cap * 2 : 16;
      hits->ptr = realloc(hits->ptr, hits->cap * sizeof *hits->ptr);
    }
    cfiles_hit_t *hit = &hits->ptr[hits->len++];
    set_copy(&hit->path, path, strlen(path));
    hit->line = number;
    // Cut at a character boundary, so the text stays UTF-8.
    size_t keep = (size_t)got < MAX_LINE ? (size_t)got : MAX_LINE;
    while (keep > 0 && keep < (size_t)got && ((unsigned char)line[keep] & 0xC0) == 0x80) keep--;
    set_copy(&hit->text, line, keep);
  }
  free(line);
  fclose(file);
}

static void search_dir(const char *path, const char *needle, int depth, hits_t *hits) {
  DIR *dir = opendir(path);
  if (!dir) return;
  struct dirent *d;
  while (hits->len < MAX_HITS && (d = readdir(dir))) {
    if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..")) continue;
    size_t len = strlen(path) + strlen(d->d_name) + 2;
    char *full = malloc(len);
    snprintf(full, len, "%s/%s", path, d->d_name);
    struct stat st;
    if (stat(full, &st) == 0) {
      if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) search_dir(full, needle, depth + 1, hits);
      else if (S_ISREG(st.st_mode)) search_file(full, needle, hits);
    }
    free(full);
  }
  closedir(dir);
}

bool exports_cfiles_search(cfiles_string_t *directory, cfiles_string_t *needle_arg,
                           cfiles_list_hit_t *ret, cfiles_string_t *err) {
  char *path = c_string(directory), *needle = c_string(needle_arg);
  cfiles_string_free(directory);
  cfiles_string_free(needle_arg);
  bool ok = true;
  DIR *probe = opendir(path);
  if (!probe) {
    ok = fail(err, path, strerror(errno));
  } else if (!*needle) {
    closedir(probe);
    ok = fail(err, path, "the needle is empty: say what to look for");
  } else {
    closedir(probe);
    hits_t hits = {0};
    search_dir(path, needle, 1, &hits);
    ret->ptr = hits.ptr;
    ret->len = hits.len;
  }
  free(path);
  free(needle);
  return ok;
}
