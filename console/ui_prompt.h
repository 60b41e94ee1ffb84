/* ui_prompt — what sits on top of a view and takes the keys while it is there: the `:` and `/`
 * line, a yes/no question, and a form (login, add or edit a task).
 *
 *   ui_prompt_confirm(ui, "Delete task 7 \"pay rent\"? (y/N)", on_yes, view);
 *   ui_field_t f[] = {{"Email", "", false}, {"Password", "", true}};
 *   ui_prompt_form(ui, "Log in", f, 2, on_login, on_cancel, view);
 *
 * One modal at a time; opening one replaces the one before. Callbacks run on the UI thread
 * after the modal closed (so they may open another). arg is the caller's and is never freed
 * here. A question is answered yes only by 'y' or 'Y': any other key is no, so nothing
 * destructive happens on one key. */
#ifndef UI_PROMPT_H
#define UI_PROMPT_H

#include <stdbool.h>

#include "ui.h"

#define UI_FIELD_MAX 8
#define UI_TEXT_MAX 1024

typedef struct ui_field {
    const char *label;
    const char *value;  /* the initial text */
    bool secret;        /* shown as dots (a password) */
} ui_field_t;

/* A one-line prompt; done gets the text on Enter (not on Esc). With commands, Tab completes
 * `:` commands (ui_command_complete). */
void ui_prompt_line(ui_t *ui, const char *label, const char *initial,
                    void (*done)(ui_t *ui, const char *text, void *arg), void *arg, bool commands);

/* A yes/no question on the bottom line. */
void ui_prompt_confirm(ui_t *ui, const char *question, void (*yes)(ui_t *ui, void *arg), void *arg);

/* A form of n fields (at most UI_FIELD_MAX): Tab/Down and S-Tab/Up move, Enter calls done
 * (values[i] for field i, valid during the call), Esc closes it and calls cancel (may be
 * NULL). The form stays open after done until someone closes it (ui_modal_close), so a
 * failed login can say why inside it (ui_prompt_form_error) and be tried again. */
void ui_prompt_form(ui_t *ui, const char *title, const ui_field_t *fields, int n,
                    void (*done)(ui_t *ui, char **values, void *arg),
                    void (*cancel)(ui_t *ui, void *arg), void *arg);

/* A message in the form's box (a failed login); the form stays open. */
void ui_prompt_form_error(ui_t *ui, const char *msg);

/* True when a modal is open. */
bool ui_modal_active(const ui_t *ui);
/* True when the open modal is a form (views draw under it). */
bool ui_modal_is_form(const ui_t *ui);

/* Gives the modal a key; false when no modal is open. */
bool ui_modal_key(ui_t *ui, int key);

/* Draws the modal over the screen (rows × cols). */
void ui_modal_draw(ui_t *ui, int rows, int cols);

/* Closes any modal without calling back. */
void ui_modal_close(ui_t *ui);

#endif
