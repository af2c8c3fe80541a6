/*
 * chord_name.h — private to the library: the note-name reader that every
 * chord text starts with, shared by chord names (chord_symbol.c: "F#m7",
 * "B:maj") and Harte labels (chord_text.c: "Bb:min7/b7"), so that a root
 * is read by one set of rules.
 */
#ifndef GM_CHORD_NAME_H
#define GM_CHORD_NAME_H

/* A note name at *p: letter A-G and up to two accidentals (#, b, ♯, ♭).
 * Its pitch class, p advanced; -1 (p as it was) when there is no letter. */
int gm_note_name_read(const char **p);
#endif
